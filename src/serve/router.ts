// Which servers answer a name: the longest configured zone suffix wins.
import type { TtlPolicy } from '../cache/entry';
import type { UpstreamPool } from '../forward/pool';

export type RouteKind = 'cluster' | 'stub' | 'upstream';

export interface Route {
  zone: string; // '' is the root
  kind: RouteKind;
  pool: UpstreamPool;
  policy: TtlPolicy;
}

/** Zones longest first (a zone given twice: its last), each with the suffix a name under it ends with ('' for the root: every name). */
function bySuffix<T>(entries: [string, T][]): { zone: string; dotted: string; value: T }[] {
  return [...new Map(entries)].map(([zone, value]) => ({ zone, dotted: zone === '' ? '' : `.${zone}`, value }))
    .sort((a, b) => b.zone.length - a.zone.length);
}

export class Router {
  // A miss compares its name with each zone's suffix, longest zone first. Looking up every
  // suffix of the name in a Map instead built a string per label and probed once per label
  // (a name of five labels: five probes, four strings), on every miss.
  private readonly zones: { zone: string; dotted: string; value: Route }[];
  private readonly policies: { zone: string; dotted: string; value: Partial<TtlPolicy> }[];

  constructor(readonly routes: Route[], zonePolicies: { zone: string; successTtlCap?: number; denialTtlCap?: number }[] = []) {
    this.zones = bySuffix(routes.map((r) => [r.zone, r]));
    this.policies = bySuffix(zonePolicies.map((z) => [z.zone, { successCap: z.successTtlCap, denialCap: z.denialTtlCap }]));
    if (!routes.some((r) => r.zone === '')) throw new Error('router needs a route for the root zone');
  }

  route(name: string): Route {
    const r = longest(this.zones, name)!;
    if (this.policies.length === 0) return r;
    const p = longest(this.policies, name);
    if (!p) return r;
    return { ...r, policy: { ...r.policy, successCap: p.successCap ?? r.policy.successCap, denialCap: p.denialCap ?? r.policy.denialCap } };
  }
}

/** The value of the longest zone `name` is in or under (names and zones are lower-case, without the trailing dot). */
function longest<T>(zones: { zone: string; dotted: string; value: T }[], name: string): T | undefined {
  for (const z of zones) {
    if (name.endsWith(z.dotted) || name === z.zone) return z.value;
  }
  return undefined;
}
