// The Grafana dashboard and the PrometheusRule in daemonset/ parse, and every metric and
// label their PromQL uses exists in a live /metrics scrape of the real agent.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PromData } from 'prom2javascript';
import { parse } from 'yaml';
import { REPO_ROOT, startAgent, type AgentProcess } from '../helpers/agent';
import { dig } from '../helpers/dig';
import { startFaultServer } from '../helpers/fault-server';
import { freePort, hostPort } from '../helpers/ports';
import { scrape, type Scrape } from './observe-scrape';

const DIR = join(REPO_ROOT, 'daemonset');
/** Labels Prometheus adds to every series of a target, and the one it generates itself. */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'node'];
const SYNTHETIC = new Set(['up']);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

interface Refs { metrics: string[]; labels: string[] }

/** Metric names and label names an expression uses (Grafana variables count as values). */
function promqlRefs(expr: string): Refs {
  const labels: string[] = [];
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""'); // strings (matcher values) out of the way
  e = e.replace(/\{([^}]*)\}/g, (_m, body: string) => {
    for (const m of body.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)/g)) labels.push(m[1]);
    return ' ';
  });
  e = e.replace(GROUPING, (_m, _kw, body: string) => {
    for (const l of body.split(',').map((s) => s.trim()).filter(Boolean)) labels.push(l);
    return ' ';
  });
  e = e.replace(/\[[^\]]*\]/g, ' ').replace(/\$\w+/g, ' ');
  const metrics: string[] = [];
  for (const m of e.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1].toLowerCase())) continue; // functions and aggregations are followed by "("
    if (/^\d/.test(m[1])) continue;
    metrics.push(m[1]);
  }
  return { metrics, labels };
}

function balanced(expr: string): boolean {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '')) {
    if ('([{'.includes(ch)) stack.push(ch);
    else if (pairs[ch] && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}

describe('dashboard and alert rules', () => {
  let agent: AgentProcess;
  let live: Scrape;
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });

  /** family name -> the label names its series carry */
  const labelsOf = (name: string): Set<string> | undefined => {
    const base = live.families[name] ? name : name.replace(/_(bucket|count|sum)$/, '');
    const fam = live.families[base];
    if (!fam) return undefined;
    const out = new Set<string>(name.endsWith('_bucket') ? ['le'] : []);
    for (const d of fam.data as PromData[]) for (const l of Object.keys(d.labels)) out.add(l);
    return out;
  };

  function checkExpr(where: string, expr: string): string[] {
    const problems: string[] = [];
    if (!balanced(expr)) problems.push(`${where}: unbalanced brackets in ${expr}`);
    const { metrics, labels } = promqlRefs(expr);
    if (metrics.length === 0) problems.push(`${where}: no metric in ${expr}`);
    const known = new Set<string>([...TARGET_LABELS, 'le']);
    for (const m of metrics) {
      if (SYNTHETIC.has(m)) continue;
      const ls = labelsOf(m);
      if (!ls) problems.push(`${where}: ${m} is not in a live /metrics scrape`);
      else for (const l of ls) known.add(l);
    }
    for (const l of labels) if (!known.has(l)) problems.push(`${where}: label "${l}" is on none of ${metrics.join(', ')}`);
    return problems;
  }

  before(async () => {
    const up = await startFaultServer({ records: { 'a.obs.test': [{ type: 'A', data: '192.0.2.1', ttl: 60 }] } });
    cleanup.push(() => up.stop());
    const { freeAddress } = await import('../helpers/ports');
    const ip = freeAddress();
    const m = await freePort(ip);
    agent = await startAgent({ localIps: [ip], upstreams: [up], args: ['--cluster-dns', hostPort(up), '--metrics-addr', `${ip}:${m}`] });
    cleanup.push(() => agent.stop());
    await dig({ server: agent, name: 'a.obs.test' }); // an upstream answer, so per-upstream series exist
    await dig({ server: agent, name: 'a.obs.test' });
    live = await scrape(`http://${ip}:${m}/metrics`);
  });

  it('extracts metrics and labels from PromQL', () => {
    assert.deepEqual(promqlRefs('histogram_quantile(0.99, sum by (instance, le) (rate(x_bucket{job=~"$job", a="b{c}"}[$__rate_interval]))) > 0.5 and y'),
      { metrics: ['x_bucket', 'y'], labels: ['job', 'a', 'instance', 'le'] });
    assert.deepEqual(promqlRefs('count(nodedns_ready == 0) or vector(0)').metrics, ['nodedns_ready']);
  });

  it('the dashboard is Grafana JSON whose every query uses live metrics and labels', () => {
    const files = readdirSync(DIR).filter((f) => /^dashboard.*\.json$/.test(f));
    assert.ok(files.length >= 1, 'daemonset/dashboard*.json exists');
    for (const f of files) {
      const d = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as {
        uid: string; title: string; schemaVersion: number;
        panels: { id: number; type: string; title: string; gridPos: object; targets?: { expr: string; refId: string }[] }[];
        templating: { list: { name: string; definition?: string }[] };
      };
      assert.ok(d.uid && d.title && d.schemaVersion >= 30, `${f}: uid, title, schemaVersion`);
      const ids = d.panels.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${f}: panel ids are unique`);
      const problems: string[] = [];
      let queries = 0;
      for (const p of d.panels) {
        assert.ok(p.gridPos, `${f}: ${p.title} has a position`);
        for (const t of p.targets ?? []) {
          queries++;
          problems.push(...checkExpr(`${f} "${p.title}" ${t.refId}`, t.expr));
        }
      }
      for (const v of d.templating.list) {
        const m = v.definition && /^label_values\((.+),\s*(\w+)\)$/.exec(v.definition);
        if (m) problems.push(...checkExpr(`${f} variable ${v.name}`, `${m[1]}{${m[2]}=""}`));
      }
      assert.deepEqual(problems, []);
      assert.ok(queries >= 20, `${f}: ${queries} queries`);
      const used = new Set(d.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => promqlRefs(t.expr).metrics)));
      for (const must of ['coredns_dns_requests_total', 'coredns_cache_hits_total', 'coredns_dns_request_duration_seconds_bucket',
        'nodedns_upstream_failures_total', 'coredns_cache_served_stale_total', 'nodedns_fallback_active']) {
        assert.ok(used.has(must), `${f} charts ${must}`);
      }
    }
  });

  it('the PrometheusRule parses and every alert uses live metrics and labels', () => {
    const files = readdirSync(DIR).filter((f) => /^prometheusrule.*\.ya?ml$/.test(f));
    assert.ok(files.length >= 1, 'daemonset/prometheusrule*.yaml exists');
    for (const f of files) {
      const doc = parse(readFileSync(join(DIR, f), 'utf8')) as {
        apiVersion: string; kind: string; metadata: { name: string };
        spec: { groups: { name: string; rules: { alert?: string; expr: string; for?: string; labels?: { severity?: string }; annotations?: { summary?: string; description?: string } }[] }[] };
      };
      assert.equal(doc.apiVersion, 'monitoring.coreos.com/v1');
      assert.equal(doc.kind, 'PrometheusRule');
      assert.ok(doc.metadata.name);
      const problems: string[] = [];
      const names = new Set<string>();
      for (const g of doc.spec.groups) {
        assert.ok(g.name && g.rules.length > 0, `${f}: group ${g.name}`);
        for (const r of g.rules) {
          assert.ok(r.alert, `${f}: every rule is an alert`);
          assert.ok(!names.has(r.alert!), `${f}: ${r.alert} is unique`);
          names.add(r.alert!);
          assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity ?? ''), `${f}: ${r.alert} has a severity`);
          assert.ok(r.annotations?.summary && r.annotations.description, `${f}: ${r.alert} says what and what to do`);
          if (r.for) assert.match(r.for, /^\d+[smh]$/, `${f}: ${r.alert} for`);
          problems.push(...checkExpr(`${f} ${r.alert}`, r.expr));
        }
      }
      assert.deepEqual(problems, []);
      for (const must of ['NodeDNSNotReady', 'NodeDNSFallbackActive', 'NodeDNSZoneWithoutUpstream', 'NodeDNSServingStale']) {
        assert.ok(names.has(must), `${f} has ${must}`);
      }
    }
  });
});
