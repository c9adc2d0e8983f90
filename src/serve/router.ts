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

/** Whether `name` is `zone` or under it, whole labels only (both lower-case, no final dot; '' is the root). */
function inZone(name: string, zone: string): boolean {
  if (zone.length === 0) return true;
  const rest = name.length - zone.length;
  return rest >= 0 && name.endsWith(zone) && (rest === 0 || name.charCodeAt(rest - 1) === 0x2e);
}

/**
 * Each zone once (the last given wins), longest first: the first that holds a name is the
 * longest. A scan of a few suffixes costs a miss less than a Map probe per label of the
 * name, each on a new substring that must be hashed.
 */
function longestFirst<T>(pairs: [string, T][]): [string, T][] {
  return [...new Map(pairs)].sort((a, b) => b[0].length - a[0].length);
}

function longest<T>(zones: [string, T][], name: string): T | undefined {
  for (let i = 0; i < zones.length; i++) if (inZone(name, zones[i][0])) return zones[i][1];
  return undefined;
}

export class Router {
  private readonly zones: [string, Route][];
  private readonly policies: [string, Partial<TtlPolicy>][];

  constructor(readonly routes: Route[], zonePolicies: { zone: string; successTtlCap?: number; denialTtlCap?: number }[] = []) {
    this.zones = longestFirst(routes.map((r) => [r.zone, r]));
    this.policies = longestFirst(zonePolicies.map((z) => [z.zone, { successCap: z.successTtlCap, denialCap: z.denialTtlCap }]));
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
