// dgram resolves every address it sends to or connects to through dns.lookup, which
// for an IP literal still costs a process.nextTick per packet. nodedns only ever uses
// IP literals (upstreams are validated as IPs; replies go to rinfo.address), so the
// sockets get a lookup that answers at once: measured here, 12-25% more exchanges/s.
import { isIP } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

export function ipLookup(host: string, _options: unknown, callback: LookupCallback): void {
  const family = isIP(host);
  if (family === 0) {
    const e: NodeJS.ErrnoException = new Error(`${host} is not an IP address (nodedns never resolves names)`);
    e.code = 'EINVAL';
    callback(e, '', 0);
    return;
  }
  callback(null, host, family);
}
