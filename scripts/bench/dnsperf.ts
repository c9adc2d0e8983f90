// Runs dnsperf and reads what it prints: the closing statistics and, with -v, one line a
// query ("> NOERROR name type 0.000123") from which the latency percentiles come.

export interface DnsperfStats {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  runTimeS: number;
  avgLatencyMs: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  stddevLatencyMs: number;
  rcodes: Record<string, number>; // NOERROR, NXDOMAIN, SERVFAIL, …
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

function num(text: string, re: RegExp, what: string): number {
  const m = re.exec(text);
  if (!m) throw new Error(`dnsperf output has no "${what}" line; is this dnsperf 2.x output? (first lines: ${text.slice(0, 200)})`);
  return Number(m[1]);
}

/** The statistics block dnsperf prints at the end of a run. */
export function parseStats(text: string): DnsperfStats {
  const rcodes: Record<string, number> = {};
  const rc = /^\s*Response codes:\s*(.*)$/m.exec(text);
  if (rc) {
    for (const m of rc[1].matchAll(/([A-Z0-9]+) (\d+) \(/g)) rcodes[m[1]] = Number(m[2]);
  }
  const lat = /^\s*Average Latency \(s\):\s*([\d.]+) \(min ([\d.]+), max ([\d.]+)\)/m.exec(text);
  const completed = num(text, /^\s*Queries completed:\s*(\d+)/m, 'Queries completed');
  if (!lat && completed > 0) throw new Error('dnsperf output has no "Average Latency" line');
  return {
    sent: num(text, /^\s*Queries sent:\s*(\d+)/m, 'Queries sent'),
    completed,
    lost: num(text, /^\s*Queries lost:\s*(\d+)/m, 'Queries lost'),
    qps: num(text, /^\s*Queries per second:\s*([\d.]+)/m, 'Queries per second'),
    runTimeS: num(text, /^\s*Run time \(s\):\s*([\d.]+)/m, 'Run time'),
    avgLatencyMs: lat ? Number(lat[1]) * 1000 : 0,
    minLatencyMs: lat ? Number(lat[2]) * 1000 : 0,
    maxLatencyMs: lat ? Number(lat[3]) * 1000 : 0,
    stddevLatencyMs: completed > 0 ? num(text, /^\s*Latency StdDev \(s\):\s*([\d.]+)/m, 'Latency StdDev') * 1000 : 0,
    rcodes,
  };
}

/** Latencies in seconds of every answered query in `dnsperf -v` output ("> RCODE name type seconds"). */
export function parseVerboseLatencies(text: string): Float64Array {
  // Sized once from an upper bound: a run of a million queries needs one typed array.
  let bound = 0;
  for (let i = text.indexOf('> '); i >= 0; i = text.indexOf('> ', i + 2)) bound++;
  const out = new Float64Array(bound);
  let k = 0;
  for (let pos = 0; pos < text.length;) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    if (text.startsWith('> ', pos)) {
      const sp = text.lastIndexOf(' ', end - 1);
      const v = Number(text.slice(sp + 1, end));
      if (sp > pos + 1 && text.slice(sp + 1, end).trim() !== '' && Number.isFinite(v)) out[k++] = v;
    }
    pos = end + 1;
  }
  return out.subarray(0, k);
}

/** Nearest-rank percentile (p in 0–100) of values already sorted ascending. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  // The epsilon keeps float error (99.9% of 1000 = 999.0000000000001) from skipping a rank.
  const rank = Math.ceil((p * sorted.length) / 100 - 1e-9);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarizeLatencies(secondsUnsorted: Float64Array): LatencySummary {
  const s = Float64Array.from(secondsUnsorted).sort();
  return {
    count: s.length,
    p50Ms: percentile(s, 50) * 1000,
    p99Ms: percentile(s, 99) * 1000,
    p999Ms: percentile(s, 99.9) * 1000,
  };
}

export interface DnsperfRun {
  server: string;
  port: number;
  file: string;
  durationS?: number; // -l
  maxRuns?: number; // -n: passes through the file
  outstanding: number; // -q
  clients?: number; // -c
  rateQps?: number; // -Q
  timeoutS?: number; // -t
  verbose?: boolean; // -v
}

/** The dnsperf command line, pinned to `cpu`. */
export function dnsperfArgs(run: DnsperfRun, cpu: number): string[] {
  const a = ['-c', String(cpu), 'dnsperf', '-s', run.server, '-p', String(run.port), '-d', run.file, '-q', String(run.outstanding)];
  if (run.clients) a.push('-c', String(run.clients));
  if (run.durationS !== undefined) a.push('-l', String(run.durationS));
  if (run.maxRuns !== undefined) a.push('-n', String(run.maxRuns));
  if (run.rateQps !== undefined) a.push('-Q', String(run.rateQps));
  a.push('-t', String(run.timeoutS ?? 2));
  if (run.verbose) a.push('-v');
  return a; // for taskset
}
