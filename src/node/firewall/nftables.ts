// nftables rendering: everything in one table of nodedns' own, `table inet nodedns`, one
// base chain per hook. Each rule's comment is "nodedns <hash of the rule>", so a check
// compares comments from `nft -j list table` with the wanted ones: independent of how a
// given nft version prints expressions, and any edit, deletion or duplicate shows.
// Every change is one `nft -f` transaction.
import { createHash } from 'node:crypto';
import { HOOKS, HOOK_SET, type Hook, type Rule, type RuleSet } from './rules';

export const TABLE = 'nodedns';
export const FAMILY = 'inet';

interface BaseChain { type: 'filter' | 'nat'; hook: string; priority: string; prio: number }

export const CHAINS: Record<Hook, BaseChain> = {
  'notrack-prerouting': { type: 'filter', hook: 'prerouting', priority: 'raw', prio: -300 },
  'notrack-output': { type: 'filter', hook: 'output', priority: 'raw', prio: -300 },
  'base-raw-output': { type: 'filter', hook: 'output', priority: 'raw', prio: -300 },
  'base-input': { type: 'filter', hook: 'input', priority: 'filter', prio: 0 },
  'base-output': { type: 'filter', hook: 'output', priority: 'filter', prio: 0 },
  'fallback-prerouting': { type: 'nat', hook: 'prerouting', priority: 'dstnat', prio: -100 },
  'fallback-output': { type: 'nat', hook: 'output', priority: 'dstnat', prio: -100 },
  'fallback-postrouting': { type: 'nat', hook: 'postrouting', priority: 'srcnat', prio: 100 },
};

/** The rule's statement without its comment. */
export function ruleBody(r: Rule): string {
  const ipx = r.family === 6 ? 'ip6' : 'ip';
  const p: string[] = [];
  if (r.src) p.push(`${ipx} saddr ${r.src}`);
  if (r.dst) p.push(`${ipx} daddr ${r.dst}`);
  if (r.proto) {
    if (r.sport !== undefined) p.push(`${r.proto} sport ${r.sport}`);
    if (r.dport !== undefined) p.push(`${r.proto} dport ${r.dport}`);
    if (r.sport === undefined && r.dport === undefined) p.push(`meta l4proto ${r.proto}`);
  }
  if (r.socket) p.push('socket wildcard 0');
  if (r.dnatted) p.push('ct status dnat');
  if (r.oneIn !== undefined) p.push(`numgen random mod ${r.oneIn} 0`);
  switch (r.action.kind) {
    case 'notrack': p.push('notrack'); break;
    case 'accept': p.push('accept'); break;
    case 'masquerade': p.push('masquerade'); break;
    case 'dnat': {
      const to = r.family === 6 ? `[${r.action.host}]:${r.action.port}` : `${r.action.host}:${r.action.port}`;
      p.push(`dnat ${ipx} to ${to}`);
      break;
    }
  }
  return p.join(' ');
}

export function ruleComment(hook: Hook, body: string): string {
  return `nodedns ${createHash('sha256').update(`${hook} ${body}`).digest('hex').slice(0, 12)}`;
}

/**
 * The statements of one rule. `socket wildcard 0` gives up (no match) on a socket that is
 * not a full one: the request socket that holds a TCP handshake between SYN and ACK, or
 * a TIME_WAIT. Left tracked, the handshake's ACK would be DNATed to the fallback and the
 * connection broken, so TCP gets a second rule for those: any socket found for the
 * packet's addresses (`socket transparent 0` reads every kind). xt_socket --nowildcard
 * matches them all in one rule.
 */
export function ruleBodies(r: Rule): string[] {
  const body = ruleBody(r);
  if (!r.socket || r.proto !== 'tcp') return [body];
  return [body, body.replace('socket wildcard 0', 'tcp flags ! syn socket transparent 0')];
}

function ruleLineOf(hook: Hook, body: string): string {
  return `add rule ${FAMILY} ${TABLE} ${hook} ${body} comment "${ruleComment(hook, body)}"`;
}

/** Wanted rule lines (in order) per base chain, for the given sets. */
export function desiredChains(rules: Rule[], sets: ReadonlySet<RuleSet>): Map<Hook, { line: string; comment: string }[]> {
  const m = new Map<Hook, { line: string; comment: string }[]>();
  for (const hook of HOOKS) m.set(hook, []);
  for (const r of rules) {
    if (!sets.has(HOOK_SET[r.hook])) continue;
    for (const body of ruleBodies(r)) m.get(r.hook)!.push({ line: ruleLineOf(r.hook, body), comment: ruleComment(r.hook, body) });
  }
  return m;
}

function chainDecl(hook: Hook): string {
  const c = CHAINS[hook];
  // numeric priorities: older nft accepts the names (dstnat, srcnat) only on some hooks
  return `add chain ${FAMILY} ${TABLE} ${hook} { type ${c.type} hook ${c.hook} priority ${c.prio}; policy accept; }`;
}

/** A transaction that replaces the whole table (creating it if absent). */
export function replaceTable(want: Map<Hook, { line: string }[]>): string {
  const out = [`add table ${FAMILY} ${TABLE}`, `delete table ${FAMILY} ${TABLE}`, `add table ${FAMILY} ${TABLE}`];
  for (const hook of HOOKS) out.push(chainDecl(hook));
  for (const hook of HOOKS) for (const r of want.get(hook) ?? []) out.push(r.line);
  return out.join('\n') + '\n';
}

/** A transaction that replaces the rules of some chains (the table and chains exist). */
export function replaceChains(want: Map<Hook, { line: string }[]>, hooks: Iterable<Hook>): string {
  const out: string[] = [];
  for (const hook of hooks) {
    out.push(`flush chain ${FAMILY} ${TABLE} ${hook}`);
    for (const r of want.get(hook) ?? []) out.push(r.line);
  }
  return out.join('\n') + '\n';
}

export function deleteTable(): string {
  return `delete table ${FAMILY} ${TABLE}\n`;
}

/** What `nft -j list table inet nodedns` shows: base chains and their rule comments. */
export interface ListedTable {
  chains: Map<string, { type?: string; hook?: string; prio?: number; comments: string[] }>;
}

export function parseListing(json: string): ListedTable {
  const doc = JSON.parse(json) as { nftables?: Record<string, Record<string, unknown>>[] };
  const chains: ListedTable['chains'] = new Map();
  for (const item of doc.nftables ?? []) {
    if (item.chain) {
      const c = item.chain;
      chains.set(String(c.name), { type: c.type as string, hook: c.hook as string, prio: c.prio as number, comments: [] });
    }
  }
  for (const item of doc.nftables ?? []) {
    if (item.rule) {
      const chain = chains.get(String(item.rule.chain));
      if (chain) chain.comments.push(typeof item.rule.comment === 'string' ? item.rule.comment : '');
    }
  }
  return { chains };
}

export interface NftDiff {
  /** base chains missing or with the wrong type, hook or priority: the table is rebuilt */
  rebuild: boolean;
  /** chains whose rules differ from the wanted ones */
  chains: Hook[];
}

export function diff(listed: ListedTable | undefined, want: Map<Hook, { comment: string }[]>): NftDiff {
  if (!listed) return { rebuild: true, chains: HOOKS.filter((h) => (want.get(h) ?? []).length > 0) };
  const d: NftDiff = { rebuild: false, chains: [] };
  for (const hook of HOOKS) {
    const have = listed.chains.get(hook);
    const c = CHAINS[hook];
    if (!have || have.type !== c.type || have.hook !== c.hook || have.prio !== c.prio) {
      d.rebuild = true;
      d.chains.push(hook);
      continue;
    }
    const wanted = (want.get(hook) ?? []).map((r) => r.comment);
    if (have.comments.length !== wanted.length || have.comments.some((x, i) => x !== wanted[i])) d.chains.push(hook);
  }
  return d;
}
