// What a server allocates per query, by call site, from a profile scripts/bench/heap-sample.cjs
// wrote: every sampled allocation (freed or not) by the function that made it, and by the
// nearest frame of the server's own script (dist/cli.js, the forwarder's or the ceiling's), to
// which Node's own allocations (a socket, a tick, a send request) are charged.
// Usage: node --import tsx scripts/bench/heap-sites.ts <file.heapprofile> --queries N [--top K]
// N: the queries the server answered while it ran (pair.ts prints them in its JSON line; add the
// 20,000 answers of its fill for every workload but hits), so that the figures read bytes a query.
import * as fs from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
/** selfSize: the bytes sampled in this function, on this stack */
interface ProfileNode { id: number; callFrame: CallFrame; selfSize: number; children?: ProfileNode[] }
export interface HeapProfile { head: ProfileNode }

export interface Sites {
  bytesPerQuery: number;
  /** [site, bytes a query], most first */
  self: [string, number][];
  own: [string, number][];
}

const OWN = /(?:^|\/)(?:cli|forwarder|ceiling)\.js$/;

function site(f: CallFrame): string {
  return `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() || '(native)'}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
}

export function allocationSites(p: HeapProfile, queries: number): Sites {
  const self = new Map<string, number>();
  const own = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  let total = 0;
  // depth first, with the nearest own frame above each node
  const stack: [ProfileNode, string | undefined][] = [[p.head, undefined]];
  while (stack.length > 0) {
    const [node, above] = stack.pop()!;
    const here = OWN.test(node.callFrame.url) ? site(node.callFrame) : above;
    if (node.selfSize > 0) {
      total += node.selfSize;
      add(self, site(node.callFrame), node.selfSize);
      if (here !== undefined) add(own, here, node.selfSize);
    }
    for (const c of node.children ?? []) stack.push([c, here]);
  }
  const sorted = (m: Map<string, number>) => [...m].map(([k, v]): [string, number] => [k, v / queries]).sort((a, b) => b[1] - a[1]);
  return { bytesPerQuery: total / queries, self: sorted(self), own: sorted(own) };
}

function main(): void {
  const argv = process.argv.slice(2);
  const opt = (flag: string) => { const i = argv.indexOf(flag); return i < 0 ? undefined : argv[i + 1]; };
  const file = argv[0];
  const queries = Number(opt('--queries'));
  const top = Number(opt('--top') ?? 30);
  if (!file || file.startsWith('--') || !(queries > 0) || !(top > 0)) {
    console.error('usage: node --import tsx scripts/bench/heap-sites.ts <file.heapprofile> --queries N [--top K]');
    process.exit(2);
  }
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as HeapProfile & { error?: string };
  if (p.error) throw new Error(`${file}: the profiler failed: ${p.error}`);
  const r = allocationSites(p, queries);
  const rows = (xs: [string, number][]) => xs.slice(0, top).map(([k, v]) => `${v.toFixed(1).padStart(8)}  ${k}`).join('\n');
  console.log(`${file}: ${r.bytesPerQuery.toFixed(0)} bytes allocated a query (${queries} queries)`);
  console.log(`\nby the function that allocated, bytes a query:\n${rows(r.self)}`);
  console.log(`\nby the nearest frame of the server's own script, bytes a query:\n${rows(r.own)}`);
}

if (require.main === module) main();
