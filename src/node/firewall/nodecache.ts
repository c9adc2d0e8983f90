// NodeLocal DNSCache (node-cache, kubernetes/dns cmd/node-cache/app/cache_app.go) leaves
// iptables rules that nodedns must not live beside: for each of its local IPs (169.254.20.10
// and, in iptables mode, the kube-dns ClusterIP) it prepends NOTRACK rules in raw PREROUTING
// and OUTPUT and ACCEPT rules in filter INPUT and OUTPUT, commented "NodeLocal DNS Cache:
// skip conntrack" and "NodeLocal DNS Cache: allow DNS traffic". It removes them on a clean
// stop, but a node-cache run with -skipteardown, killed, or evicted leaves them, and a
// NOTRACK that stays defeats nodedns' fallback DNAT (untracked packets skip the nat table).
// nodedns removes them in the iptables-restore that writes its own rules.
import { normalize } from './iptables';

export const NODE_CACHE_COMMENTS = ['NodeLocal DNS Cache: skip conntrack', 'NodeLocal DNS Cache: allow DNS traffic'];

export interface NodeCacheRule { table: string; line: string }

/** node-cache's rules in iptables-save output ("-A CHAIN …" lines, as saved). */
export function nodeCacheRules(saveText: string): NodeCacheRule[] {
  const out: NodeCacheRule[] = [];
  let table = '';
  for (const raw of saveText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith('-A ') && NODE_CACHE_COMMENTS.some((c) => normalize(line).includes(`--comment ${c}`))) out.push({ table, line });
  }
  return out;
}

/** iptables-restore --noflush input that deletes every one of them (each line once per copy). */
export function nodeCacheRemoval(saveText: string): string {
  const byTable = new Map<string, string[]>();
  for (const r of nodeCacheRules(saveText)) byTable.set(r.table, [...(byTable.get(r.table) ?? []), `-D${r.line.slice(2)}`]);
  return [...byTable].map(([t, lines]) => `*${t}\n${lines.join('\n')}\nCOMMIT\n`).join('');
}
