// Doctor check: is NodeLocal DNSCache (node-cache) on this node, or what it left behind?
// Its traces: its process listening on port 53, its iptables rules (commented "NodeLocal
// DNS Cache: …") and its dummy interface holding addresses nodedns was not given (in
// iptables mode, the kube-dns ClusterIP). What to do: docs/migrate-from-node-cache.md.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Config } from '../config/types';
import { runCommand, type Runner } from '../node/exec';
import { saveText } from '../node/firewall/backend';
import { nodeCacheRules } from '../node/firewall/nodecache';
import { result, type CheckResult, type DoctorContext } from './doctor-types';

const SEED = '002';
const DOC = 'docs/migrate-from-node-cache.md';

export interface NodeCacheTraces {
  /** "dnsmasq pid 123 on 169.254.20.10:53" for each other process on a local IP's port 53 */
  sockets: string[];
  /** "iptables-nft (IPv4) raw: -A PREROUTING …" */
  rules: string[];
  /** addresses on the interface that nodedns was not told to serve */
  foreignAddresses: string[];
}

export async function findNodeCache(c: Pick<Config, 'interfaceName' | 'localIps' | 'port' | 'firewall'>, run: Runner = runCommand): Promise<NodeCacheTraces> {
  const t: NodeCacheTraces = { sockets: [], rules: [], foreignAddresses: [] };
  const ss = await run('ss', ['-H', '-lnup', `sport = :${c.port}`]).catch(() => undefined);
  for (const line of (ss?.stdout ?? '').split('\n')) {
    const local = line.trim().split(/\s+/)[3] ?? '';
    const m = /\(\("([^"]+)",pid=(\d+)/.exec(line);
    const ip = local.slice(0, local.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    if (m && c.localIps.includes(ip) && Number(m[2]) !== process.pid && !isNodedns(Number(m[2]))) t.sockets.push(`${m[1]} pid ${m[2]} on ${local}`);
  }
  // the same reads node setup makes (never a legacy table that is not loaded); none with --firewall none
  if (c.firewall !== 'none') {
    for (const variant of ['nft', 'legacy'] as const) {
      for (const family of [4, 6] as const) {
        const text = await saveText(run, variant, family).catch(() => '');
        for (const rule of nodeCacheRules(text)) t.rules.push(`iptables-${variant} (IPv${family}) ${rule.table}: ${rule.line}`);
      }
    }
  }
  const addrs = networkInterfaces()[c.interfaceName] ?? [];
  t.foreignAddresses = addrs.map((a) => a.address).filter((a) => !c.localIps.includes(a));
  return t;
}

function isNodedns(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cli.js');
  } catch {
    return false;
  }
}

export async function checkNodeCache(ctx: DoctorContext, run: Runner = runCommand): Promise<CheckResult> {
  const id = 'node-cache';
  const title = 'NodeLocal DNSCache (node-cache) is not on this node';
  const c = ctx.config;
  const t = await findNodeCache(c, run);
  const details = [...t.sockets.map((s) => `socket: ${s}`), ...t.rules.map((r) => `rule: ${r}`),
    ...(t.foreignAddresses.length ? [`interface ${c.interfaceName} also holds ${t.foreignAddresses.join(', ')}`] : [])];
  if (t.sockets.length && t.rules.length) {
    return result(id, title, SEED, 'FAIL', `node-cache is running here: ${t.sockets.join('; ')}, and ${t.rules.length} of its iptables rules `
      + '("NodeLocal DNS Cache: …") are in place',
      `move this node from node-cache to nodedns as ${DOC} describes: keep node-cache off the node (its DaemonSet's node affinity), `
      + 'let it stop with its teardown, then nodedns starts and takes the address', details);
  }
  if (t.sockets.length) {
    return result(id, title, SEED, 'WARN', `another program listens on nodedns' address: ${t.sockets.join('; ')} (none of node-cache's rules is in place)`,
      `if it is node-cache run with -setupiptables=false, move the node as ${DOC} describes; otherwise stop it or give nodedns another --local-ip`, details);
  }
  if (t.rules.length || t.foreignAddresses.length) {
    const what = [t.rules.length ? `${t.rules.length} iptables rules commented "NodeLocal DNS Cache"` : '',
      t.foreignAddresses.length ? `${c.interfaceName} also holds ${t.foreignAddresses.join(', ')}` : ''].filter(Boolean).join('; ');
    return result(id, title, SEED, 'WARN', `node-cache is not running, but it left ${what}`,
      'nodedns removes node-cache\'s rules when it installs its own (nodedns run or nodedns setup); '
      + `an address nodedns does not serve can go with: ip addr del ADDRESS dev ${c.interfaceName} (see ${DOC})`, details);
  }
  return result(id, title, SEED, 'PASS', 'no node-cache process on port 53, none of its iptables rules');
}
