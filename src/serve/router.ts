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

export class Router {
  private readonly byZone = new Map<string, Route>();
  private readonly policies: Map<string, Partial<TtlPolicy>>;

  constructor(readonly routes: Route[], zonePolicies: { zone: string; successTtlCap?: number; denialTtlCap?: number }[] = []) {
    for (const r of routes) this.byZone.set(r.zone, r);
    this.policies = new Map(zonePolicies.map((z) => [z.zone, { successCap: z.successTtlCap, denialCap: z.denialTtlCap }]));
    if (!this.byZone.has('')) throw new Error('router needs a route for the root zone');
  }

  route(name: string): Route {
    const r = this.longest(this.byZone, name)!;
    if (this.policies.size === 0) return r;
    const p = this.longest(this.policies, name);
    if (!p) return r;
    return { ...r, policy: { ...r.policy, successCap: p.successCap ?? r.policy.successCap, denialCap: p.denialCap ?? r.policy.denialCap } };
  }

  private longest<T>(m: Map<string, T>, name: string): T | undefined {
    let n = name;
    for (;;) {
      const hit = m.get(n);
      if (hit !== undefined) return hit;
      if (n === '') return undefined;
      const dot = n.indexOf('.');
      n = dot < 0 ? '' : n.slice(dot + 1);
    }
  }
}
