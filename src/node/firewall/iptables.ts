// iptables / ip6tables rendering. nodedns keeps its rules in chains of its own
// (NODEDNS-NOTRACK-PRE in raw, NODEDNS-BASE-IN in filter, …), entered by one jump from the
// built-in chain. Every rule carries the comment "nodedns". Rules are written in exactly
// the form iptables-save prints them, so a check is a text comparison with its output.
// Changes go through one `iptables-restore --noflush` per table set: declaring a chain
// (":NODEDNS-X - [0:0]") empties it, so a chain is replaced atomically.
import { HOOKS, HOOK_SET, type Hook, type Rule, type RuleSet } from './rules';

export const COMMENT = 'nodedns';
export const TABLES = ['raw', 'filter', 'nat'] as const;
export type Table = typeof TABLES[number];

interface ChainPlace { table: Table; builtin: string; chain: string }

export const PLACES: Record<Hook, ChainPlace> = {
  'notrack-prerouting': { table: 'raw', builtin: 'PREROUTING', chain: 'NODEDNS-NOTRACK-PRE' },
  'notrack-output': { table: 'raw', builtin: 'OUTPUT', chain: 'NODEDNS-NOTRACK-OUT' },
  'base-raw-output': { table: 'raw', builtin: 'OUTPUT', chain: 'NODEDNS-BASE-OUT' },
  'base-input': { table: 'filter', builtin: 'INPUT', chain: 'NODEDNS-BASE-IN' },
  'base-output': { table: 'filter', builtin: 'OUTPUT', chain: 'NODEDNS-BASE-OUT' },
  'fallback-prerouting': { table: 'nat', builtin: 'PREROUTING', chain: 'NODEDNS-FALLBACK-PRE' },
  'fallback-output': { table: 'nat', builtin: 'OUTPUT', chain: 'NODEDNS-FALLBACK-OUT' },
  'fallback-postrouting': { table: 'nat', builtin: 'POSTROUTING', chain: 'NODEDNS-FALLBACK-POST' },
};

function hostOf(ip: string, family: 4 | 6): string {
  return `${ip}/${family === 6 ? 128 : 32}`;
}

/** One rule in iptables-save form, without the leading "-A CHAIN". */
export function ruleSpec(r: Rule): string {
  const p: string[] = [];
  if (r.src) p.push('-s', hostOf(r.src, r.family));
  if (r.dst) p.push('-d', hostOf(r.dst, r.family));
  if (r.proto) {
    p.push('-p', r.proto, '-m', r.proto);
    if (r.sport !== undefined) p.push('--sport', String(r.sport));
    if (r.dport !== undefined) p.push('--dport', String(r.dport));
  }
  if (r.socket) p.push('-m', 'socket', '--nowildcard');
  if (r.dnatted) p.push('-m', 'conntrack', '--ctstate', 'DNAT');
  if (r.oneIn !== undefined) p.push('-m', 'statistic', '--mode', 'random', '--probability', (1 / r.oneIn).toFixed(11));
  p.push('-m', 'comment', '--comment', COMMENT);
  switch (r.action.kind) {
    case 'notrack': p.push('-j', 'NOTRACK'); break;
    case 'accept': p.push('-j', 'ACCEPT'); break;
    case 'masquerade': p.push('-j', 'MASQUERADE'); break;
    case 'dnat': {
      const to = r.family === 6 ? `[${r.action.host}]:${r.action.port}` : `${r.action.host}:${r.action.port}`;
      p.push('-j', 'DNAT', '--to-destination', to);
      break;
    }
  }
  return p.join(' ');
}

export function jumpSpec(hook: Hook): string {
  return `-m comment --comment ${COMMENT} -j ${PLACES[hook].chain}`;
}

/** Desired rule lines per hook, for one family, restricted to the given sets. */
export function desiredChains(rules: Rule[], family: 4 | 6, sets: ReadonlySet<RuleSet>): Map<Hook, string[]> {
  const m = new Map<Hook, string[]>();
  for (const hook of HOOKS) if (sets.has(HOOK_SET[hook])) m.set(hook, []);
  for (const r of rules) {
    if (r.family !== family || !m.has(r.hook)) continue;
    m.get(r.hook)!.push(`-A ${PLACES[r.hook].chain} ${ruleSpec(r)}`);
  }
  return m;
}

/** What iptables-save shows of one table: chains that exist and their rules in order. */
export interface SavedTable {
  chains: Set<string>;
  rules: Map<string, string[]>; // chain -> "-A CHAIN …" lines
}

export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let cur: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      cur = { chains: new Set(), rules: new Map() };
      tables.set(line.slice(1), cur);
    } else if (!cur || line === '' || line.startsWith('#')) {
      continue;
    } else if (line.startsWith(':')) {
      cur.chains.add(line.slice(1).split(' ')[0]);
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1];
      const list = cur.rules.get(chain) ?? [];
      list.push(normalize(line));
      cur.rules.set(chain, list);
    } else if (line === 'COMMIT') {
      cur = undefined;
    }
  }
  return tables;
}

/** iptables-save quotes comments with spaces and may differ in spacing; compare without that. */
export function normalize(line: string): string {
  return line.replace(/"/g, '').replace(/\s+/g, ' ').trim();
}

export interface IptablesDiff {
  /** hooks whose chain is missing or differs */
  chains: Hook[];
  /** jump rule count per hook where it is not exactly 1 */
  jumps: Map<Hook, number>;
  /** hooks of sets that should be absent but still have rules or jumps */
  stale: Hook[];
}

/** Compares one family's saved tables with what should be there. */
export function diff(saved: Map<string, SavedTable>, want: Map<Hook, string[]>): IptablesDiff {
  const d: IptablesDiff = { chains: [], jumps: new Map(), stale: [] };
  for (const hook of HOOKS) {
    const place = PLACES[hook];
    const t = saved.get(place.table);
    const have = t?.rules.get(place.chain) ?? [];
    const jumps = (t?.rules.get(place.builtin) ?? []).filter((l) => isOurJump(l, place.chain)).length;
    const lines = want.get(hook);
    if (lines === undefined) {
      if (have.length > 0) d.stale.push(hook);
      continue;
    }
    const exists = t?.chains.has(place.chain) ?? false;
    if (!exists || have.length !== lines.length || have.some((l, i) => l !== normalize(lines[i]))) d.chains.push(hook);
    if (jumps !== 1) d.jumps.set(hook, jumps);
  }
  return d;
}

function isOurJump(line: string, chain: string): boolean {
  return line.endsWith(`-j ${chain}`) && line.includes(`--comment ${COMMENT}`);
}

/** iptables-restore --noflush input that brings the given hooks to their wanted state. */
export function restoreInput(want: Map<Hook, string[]>, hooks: Iterable<Hook>, jumps: Map<Hook, number>): string {
  const byTable = new Map<Table, string[]>();
  const add = (t: Table, l: string) => byTable.set(t, [...(byTable.get(t) ?? []), l]);
  for (const hook of hooks) {
    const place = PLACES[hook];
    add(place.table, `:${place.chain} - [0:0]`);
    for (const l of want.get(hook) ?? []) add(place.table, l);
  }
  for (const [hook, count] of jumps) {
    const place = PLACES[hook];
    if (!want.has(hook)) continue;
    // keep exactly one jump, first in the built-in chain
    for (let i = 0; i < count; i++) add(place.table, `-D ${place.builtin} ${jumpSpec(hook)}`);
    add(place.table, `-I ${place.builtin} 1 ${jumpSpec(hook)}`);
  }
  return render(byTable);
}

/** Input that removes the given hooks' chains and jumps entirely (`saved` says what exists). */
export function removalInput(saved: Map<string, SavedTable>, hooks: Iterable<Hook>): string {
  const byTable = new Map<Table, string[]>();
  const add = (t: Table, l: string) => byTable.set(t, [...(byTable.get(t) ?? []), l]);
  for (const hook of hooks) {
    const place = PLACES[hook];
    const t = saved.get(place.table);
    if (!t) continue;
    const jumps = (t.rules.get(place.builtin) ?? []).filter((l) => isOurJump(l, place.chain)).length;
    for (let i = 0; i < jumps; i++) add(place.table, `-D ${place.builtin} ${jumpSpec(hook)}`);
    if (t.chains.has(place.chain)) {
      add(place.table, `-F ${place.chain}`);
      add(place.table, `-X ${place.chain}`);
    }
  }
  return render(byTable);
}

/** Input that empties the given hooks' chains (creating them if needed), keeping the jumps. */
export function flushInput(hooks: Iterable<Hook>): string {
  const byTable = new Map<Table, string[]>();
  for (const hook of hooks) {
    const place = PLACES[hook];
    byTable.set(place.table, [...(byTable.get(place.table) ?? []), `:${place.chain} - [0:0]`]);
  }
  return render(byTable);
}

function render(byTable: Map<Table, string[]>): string {
  let out = '';
  for (const t of TABLES) {
    const lines = byTable.get(t);
    if (!lines || lines.length === 0) continue;
    out += `*${t}\n${lines.join('\n')}\nCOMMIT\n`;
  }
  return out;
}

/** The whole rule set in restore form, for `nodedns setup --dry-run`. */
export function renderAll(rules: Rule[], family: 4 | 6, sets: ReadonlySet<RuleSet>): string {
  const want = desiredChains(rules, family, sets);
  const jumps = new Map<Hook, number>([...want.keys()].map((h) => [h, 0]));
  return restoreInput(want, want.keys(), jumps);
}
