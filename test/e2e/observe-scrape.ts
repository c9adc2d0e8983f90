// Scrapes /metrics over HTTP and parses the exposition with a real parser
// (prom2javascript), flattening every sample to "name{k="v",…}" -> value so tests can
// compare two scrapes. Histograms become _bucket{le}, _sum and _count samples.
import { request } from 'node:http';
import { getMetricsFromIterator, type PromHistogramData, type PromData, type PromMetrics } from 'prom2javascript';

export interface Scrape {
  families: PromMetrics;
  samples: Map<string, number>;
  text: string;
}

export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export function httpGet(url: string, timeoutMs = 3000, method = 'GET'): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The sample key: name and labels sorted by name, as in the exposition. */
export function key(name: string, labels: Record<string, string> = {}): string {
  const l = Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`).join(',');
  return l ? `${name}{${l}}` : name;
}

export async function parseExposition(text: string): Promise<Scrape> {
  const families = await getMetricsFromIterator(text.split('\n')[Symbol.iterator]());
  const samples = new Map<string, number>();
  for (const [name, fam] of Object.entries(families)) {
    if (fam.type === 'histogram') {
      for (const h of fam.data as PromHistogramData[]) {
        for (const [le, n] of Object.entries(h.buckets)) samples.set(key(`${name}_bucket`, { ...h.labels, le }), n);
        samples.set(key(`${name}_count`, h.labels), h.count);
        if (h.sum !== undefined) samples.set(key(`${name}_sum`, h.labels), h.sum);
      }
    } else {
      for (const d of fam.data as PromData[]) samples.set(key(name, d.labels), d.value);
    }
  }
  return { families, samples, text };
}

export async function scrape(url: string): Promise<Scrape> {
  const r = await httpGet(url);
  if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status}: ${r.body}`);
  return parseExposition(r.body);
}

/** value of one sample (0 when absent: a series appears when it first counts) */
export const value = (s: Scrape, name: string, labels: Record<string, string> = {}): number => s.samples.get(key(name, labels)) ?? 0;

/** How much every sample moved between two scrapes; only the ones that moved. */
export function deltas(before: Scrape, after: Scrape): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after.samples) {
    const d = v - (before.samples.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

/** Sum of the samples of one family whose labels include `labels`. */
export function sum(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const fam = s.families[name];
  if (!fam) return 0;
  let n = 0;
  for (const d of fam.data as PromData[]) {
    if (Object.entries(labels).every(([k, v]) => d.labels[k] === v)) n += d.value;
  }
  return n;
}
