// Where the fallback should send DNS when nodedns is not serving.
//
// The trap: a DNAT in nat PREROUTING to the cluster DNS *ClusterIP* is not translated
// again by kube-proxy. Netfilter runs the nat hook once per connection, and once our
// rule has rewritten the destination, kube-proxy's KUBE-SERVICES rules (iptables mode)
// or its service-ips map (nftables mode) never see the packet. The ClusterIP is not
// routable, so the query would be lost. It works only where the ClusterIP is a real
// local address (IPVS mode binds it on kube-ipvs0) or is routed somewhere that answers.
//
// So when kube-proxy runs in iptables or nftables mode, nodedns reads the endpoints
// kube-proxy itself DNATs the ClusterIP to (the cluster DNS pods) from its rules, and
// DNATs straight to them, spread evenly. It copies addresses rather than jumping into
// kube-proxy's chains: a reference from our rules to a KUBE-SVC chain would make
// kube-proxy's own iptables-restore fail when it deletes that chain. The copy is
// refreshed every --sync-interval and whenever the fallback takes over.
import type { Endpoint } from '../../config/types';
import { familyOf, type FallbackTarget } from './rules';

type Proto = 'udp' | 'tcp';

/** Splits an iptables-save line into words, keeping quoted comments whole. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) out.push(m[1] !== undefined ? m[1] : m[2]);
  return out;
}

function arg(tokens: string[], flag: string): string | undefined {
  const i = tokens.indexOf(flag);
  return i >= 0 && i + 1 < tokens.length ? tokens[i + 1] : undefined;
}

export function parseEndpoint(text: string): Endpoint | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  return { host: m[1], port: Number(m[2]), family: familyOf(m[1]) };
}

/** nat-table rules by chain, from iptables-save (all tables or -t nat) output. */
function natChains(saveText: string): Map<string, string[][]> {
  const chains = new Map<string, string[][]>();
  let inNat = false;
  for (const raw of saveText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inNat = line === '*nat';
    else if (inNat && line.startsWith('-A ')) {
      const t = tokenize(line);
      const list = chains.get(t[1]) ?? [];
      list.push(t);
      chains.set(t[1], list);
    }
  }
  return chains;
}

/** The endpoints kube-proxy (iptables mode) DNATs clusterIp:port/proto to; undefined when it has no rule for it. */
export function iptablesEndpoints(saveText: string, clusterIp: string, port: number, proto: Proto): Endpoint[] | undefined {
  const chains = natChains(saveText);
  const suffix = familyOf(clusterIp) === 6 ? '/128' : '/32';
  const entry = (chains.get('KUBE-SERVICES') ?? []).find((t) =>
    arg(t, '-d') === clusterIp + suffix && arg(t, '-p') === proto && arg(t, '--dport') === String(port)
    && /^KUBE-SV[CL]-/.test(arg(t, '-j') ?? ''));
  if (!entry) return undefined;
  const found: Endpoint[] = [];
  const seen = new Set<string>();
  const walk = (chain: string, depth: number) => {
    if (depth > 4 || seen.has(chain)) return;
    seen.add(chain);
    for (const t of chains.get(chain) ?? []) {
      const target = arg(t, '-j') ?? '';
      if (target === 'DNAT') {
        const ep = parseEndpoint(arg(t, '--to-destination') ?? '');
        if (ep && !found.some((f) => f.host === ep.host && f.port === ep.port)) found.push(ep);
      } else if (/^KUBE-(SVC|SVL|SEP)-/.test(target)) {
        walk(target, depth + 1);
      }
    }
  };
  walk(arg(entry, '-j')!, 0);
  return found;
}

type Json = unknown;

function* walkJson(x: Json): Generator<Record<string, Json>> {
  if (Array.isArray(x)) for (const v of x) yield* walkJson(v);
  else if (x !== null && typeof x === 'object') {
    yield x as Record<string, Json>;
    for (const v of Object.values(x)) yield* walkJson(v);
  }
}

/** The endpoints kube-proxy (nftables mode) DNATs clusterIp:port/proto to, from `nft -j list table ip[6] kube-proxy`. */
export function nftEndpoints(listJson: string, clusterIp: string, port: number, proto: Proto): Endpoint[] | undefined {
  let doc: { nftables?: Record<string, Record<string, Json>>[] };
  try {
    doc = JSON.parse(listJson);
  } catch {
    return undefined;
  }
  const items = doc.nftables ?? [];
  let serviceChain: string | undefined;
  for (const it of items) {
    if (!it.map || it.map.name !== 'service-ips') continue;
    for (const el of (it.map.elem as Json[] | undefined) ?? []) {
      if (!Array.isArray(el) || el.length < 2) continue;
      const key = unwrapElem(el[0]);
      const parts = (key as { concat?: Json[] } | undefined)?.concat;
      if (!parts || parts[0] !== clusterIp || parts[1] !== proto || Number(parts[2]) !== port) continue;
      for (const o of walkJson(el[1])) {
        const g = (o.goto ?? o.jump) as { target?: string } | undefined;
        if (g?.target) serviceChain = g.target;
      }
    }
  }
  if (!serviceChain) return undefined;
  const rulesOf = (chain: string) => items.filter((i) => i.rule && i.rule.chain === chain).map((i) => i.rule.expr);
  const found: Endpoint[] = [];
  const seen = new Set<string>();
  const visit = (chain: string, depth: number) => {
    if (depth > 4 || seen.has(chain)) return;
    seen.add(chain);
    for (const expr of rulesOf(chain)) {
      for (const o of walkJson(expr)) {
        const dnat = o.dnat as { addr?: string; port?: number } | undefined;
        if (dnat && typeof dnat.addr === 'string') {
          const ep: Endpoint = { host: dnat.addr, port: dnat.port ?? port, family: familyOf(dnat.addr) };
          if (!found.some((f) => f.host === ep.host && f.port === ep.port)) found.push(ep);
        }
        const g = (o.goto ?? o.jump) as { target?: string } | undefined;
        if (g?.target && /^(service|local|endpoint)-/.test(g.target)) visit(g.target, depth + 1);
      }
    }
  };
  visit(serviceChain, 0);
  return found;
}

function unwrapElem(x: Json): Json {
  // an element with a comment or timeout is {"elem": {"val": …}}
  const e = (x as { elem?: { val?: Json } } | undefined)?.elem;
  return e?.val ?? x;
}

/** Builds the fallback target for one cluster DNS address from what kube-proxy shows. */
export function targetFromKubeProxy(
  clusterDns: Endpoint,
  source: 'kube-proxy-iptables' | 'kube-proxy-nftables',
  find: (proto: Proto) => Endpoint[] | undefined,
): FallbackTarget | undefined {
  const udp = find('udp');
  const tcp = find('tcp');
  if (udp === undefined && tcp === undefined) return undefined;
  return { source, clusterIp: clusterDns.host, udp: udp ?? [], tcp: tcp ?? [] };
}
