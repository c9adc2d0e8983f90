// Who counts as "the node itself" for the CHAOS names that reveal configuration and
// upstreams: a source address that is loopback, one of --local-ip, or an address of any
// interface in the network namespace nodedns runs in (with hostNetwork, the node's: so
// processes on the node and hostNetwork pods, never an ordinary pod, whose address lives
// in its own namespace). --chaos-allow adds CIDRs. A forged UDP source gains nothing: the
// answer goes to the forged address.
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Config } from '../config/types';

/** Interfaces change rarely; re-read at most this often, and only when a restricted name is asked. */
const REFRESH_MS = 10_000;

export class NodeClients {
  private list: BlockList | undefined;
  private builtFor: Config | undefined;
  private builtAt = 0;

  constructor(private readonly config: () => Config, private readonly interfaces = networkInterfaces,
    private readonly now: () => number = Date.now) {}

  allows(client: string): boolean {
    const address = client.startsWith('::ffff:') && isIP(client.slice(7)) === 4 ? client.slice(7) : client;
    const family = isIP(address);
    if (family === 0) return false;
    const c = this.config();
    if (!this.list || this.builtFor !== c || this.now() - this.builtAt > REFRESH_MS) {
      this.list = this.build(c);
      this.builtFor = c;
      this.builtAt = this.now();
    }
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  private build(c: Config): BlockList {
    const list = new BlockList();
    list.addSubnet('127.0.0.0', 8, 'ipv4');
    list.addAddress('::1', 'ipv6');
    const add = (ip: string) => { const f = isIP(ip); if (f) list.addAddress(ip, f === 4 ? 'ipv4' : 'ipv6'); };
    for (const ip of c.localIps) add(ip);
    for (const addrs of Object.values(this.interfaces())) for (const a of addrs ?? []) add(a.address.split('%')[0]);
    for (const cidr of c.chaosAllow) {
      const [ip, prefix] = cidr.split('/');
      list.addSubnet(ip, Number(prefix), isIP(ip) === 4 ? 'ipv4' : 'ipv6');
    }
    return list;
  }
}
