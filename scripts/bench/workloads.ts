// The backend zones Knot serves and the dnsperf query files every server is driven with.
// Pure text generators: the same inputs give the same files, so every server in a run
// sees exactly the same queries.

export const HIT_ZONE = 'example.com';
export const CLUSTER_ZONE = 'cluster.local';
/** The search list of a pod in namespace "ns" (resolv.conf with ndots:5). */
export const SEARCH_SUFFIXES = ['ns.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];

/** TTL of the hit names: node-cache's (and nodedns') success cap, so every server caches them alike. */
export const HIT_TTL = 30;
/** SOA minimum of cluster.local: what CoreDNS' kubernetes plugin hands out, so NXDOMAINs expire every 5 s. */
export const CLUSTER_NEGATIVE_TTL = 5;
/** SOA minimum of example.com: long enough that the memory fill's NXDOMAINs stay cached while RSS is read. */
export const HIT_ZONE_NEGATIVE_TTL = 60;

export function hitName(i: number): string {
  return `h${i}.${HIT_ZONE}`;
}

function ipv4(base: number, i: number): string {
  return `10.${base}.${(i >> 8) & 255}.${i & 255}`;
}

/** example.com: `hitNames` names with A and AAAA, wildcards for misses and fills; anything else NXDOMAIN. */
export function hitZone(nsAddress: string, hitNames: number): string {
  const lines = [
    `$ORIGIN ${HIT_ZONE}.`,
    `$TTL ${HIT_TTL}`,
    `@ SOA ns.${HIT_ZONE}. hostmaster.${HIT_ZONE}. 1 3600 600 86400 ${HIT_ZONE_NEGATIVE_TTL}`,
    '@ NS ns',
    `ns A ${nsAddress}`,
    // Names never seen before (mixed workload) and the memory fill: one wildcard each,
    // so a fresh name always gets a real answer from Knot.
    '*.miss A 10.250.0.1',
    '*.miss AAAA fd00:250::1',
    '*.fill A 10.251.0.1',
    // Hit names new to every server, as short as the hit names (freshHitName)
    '*.t A 10.252.0.1',
  ];
  for (let i = 0; i < hitNames; i++) {
    lines.push(`h${i} A ${ipv4(0, i)}`, `h${i} AAAA fd00::${i.toString(16)}`);
  }
  return lines.join('\n') + '\n';
}

/** cluster.local with nothing in it: every search-suffix name is NXDOMAIN with a 5 s SOA minimum. */
export function clusterZone(nsAddress: string): string {
  return [
    `$ORIGIN ${CLUSTER_ZONE}.`,
    `$TTL ${CLUSTER_NEGATIVE_TTL}`,
    `@ SOA ns.dns.${CLUSTER_ZONE}. hostmaster.${CLUSTER_ZONE}. 1 7200 1800 86400 ${CLUSTER_NEGATIVE_TTL}`,
    '@ NS ns.dns',
    `ns.dns A ${nsAddress}`,
  ].join('\n') + '\n';
}

const lines = (qs: string[]) => qs.join('\n') + '\n';

/** Cache hits: every hit name once, type A (the file loops for the whole run); `name` gives the i-th. */
export function hitQueries(hitNames: number, name: (i: number) => string = hitName): string {
  const qs: string[] = [];
  for (let i = 0; i < hitNames; i++) qs.push(`${name(i)} A`);
  return lines(qs);
}

/**
 * Mixed: `total` queries, nine in ten from the hit names, one in ten a name no server has
 * seen: unique per line and per run (runId), answered by Knot's *.miss wildcard. dnsperf
 * must read this file once only (-n 1), or the "new" names would repeat and become hits.
 */
export function mixedQueries(hitNames: number, total: number, runId: string, hit: (i: number) => string = hitName): string {
  checkRunId(runId);
  const qs: string[] = new Array(total);
  let h = 0;
  for (let j = 0; j < total; j++) {
    if (j % 10 === 9) qs[j] = `u${j}-${runId}.miss.${HIT_ZONE} A`;
    else { qs[j] = `${hit(h)} A`; h = (h + 1) % hitNames; }
  }
  return lines(qs);
}

/** Misses only: `total` names no server has seen (runId), under Knot's *.miss wildcard; read once (-n 1), as mixed. */
export function missQueries(total: number, runId: string): string {
  checkRunId(runId);
  const qs: string[] = new Array(total);
  for (let j = 0; j < total; j++) qs[j] = `m${j}-${runId}.miss.${HIT_ZONE} A`;
  return lines(qs);
}

/**
 * Hit names new to every server, set `n` of a benchmark run (the runs together, where a server
 * must not still be refreshing names from earlier runs): "<two letters for n><i>.t.example.com",
 * three bytes longer than the hit names (a longer name costs nodedns more per query), under
 * Knot's *.t wildcard, TTL 30 s.
 */
export function freshHitName(n: number): (i: number) => string {
  if (!Number.isInteger(n) || n < 0 || n >= 26 * 26) throw new Error(`fresh hit name set ${n}: 0-675 only`);
  const tag = String.fromCharCode(97 + Math.floor(n / 26), 97 + (n % 26));
  return (i) => `${tag}${i}.t.${HIT_ZONE}`;
}


/**
 * The ndots:5 burst: what glibc in a pod sends to resolve an external name with fewer
 * than 5 dots: each search suffix first (NXDOMAIN), then the name itself, A and AAAA each.
 */
export function ndotsQueries(hitNames: number): string {
  return burst(hitNames, hitName, SEARCH_SUFFIXES);
}

/**
 * The same burst with every name new to the servers (`runId`) and long-lived: the names
 * under Knot's *.miss wildcard, the suffixes under example.com, denied for the SOA's TTL (the
 * lower of it and the SOA minimum, RFC 2308 §5): all HIT_TTL, 30 s, and nodedns' caps alike.
 * Stored by the warm-up right before a run, none is due for refresh within it: the ndots
 * work per query, with the clock-driven refreshes of the 5 s cluster NXDOMAINs left out.
 */
export function freshNdotsQueries(hitNames: number, runId: string): string {
  checkRunId(runId);
  // the pod's search list with <runId>.example.com in place of the cluster domain
  const suffixes = SEARCH_SUFFIXES.map((s) => s.replace(CLUSTER_ZONE, `${runId}.${HIT_ZONE}`));
  return burst(hitNames, (i) => `n${i}-${runId}.miss.${HIT_ZONE}`, suffixes);
}

/** For each name: each search suffix first (NXDOMAIN), then the name itself, A and AAAA each. */
function burst(names: number, name: (i: number) => string, suffixes: string[]): string {
  const qs: string[] = [];
  for (let i = 0; i < names; i++) {
    const n = name(i);
    for (const candidate of [...suffixes.map((s) => `${n}.${s}`), n]) {
      qs.push(`${candidate} A`, `${candidate} AAAA`);
    }
  }
  return lines(qs);
}

function checkRunId(runId: string): void {
  if (!/^[a-z0-9-]{1,20}$/.test(runId)) throw new Error(`runId "${runId}" must be 1-20 of a-z 0-9 -`);
}

/** The memory fill: `n` distinct positive answers (the *.fill wildcard). */
export function fillPositiveQueries(n: number): string {
  const qs: string[] = [];
  for (let i = 0; i < n; i++) qs.push(`f${i}.fill.${HIT_ZONE} A`);
  return lines(qs);
}

/** The memory fill: `n` distinct NXDOMAIN answers (names that example.com does not hold). */
export function fillNegativeQueries(n: number): string {
  const qs: string[] = [];
  for (let i = 0; i < n; i++) qs.push(`nx${i}.${HIT_ZONE} A`);
  return lines(qs);
}

/** A run id for unique miss names: base36 time plus randomness, a-z0-9 only. */
export function newRunId(now = Date.now(), rand = Math.random()): string {
  return now.toString(36) + Math.floor(rand * 36 ** 4).toString(36).padStart(4, '0');
}
