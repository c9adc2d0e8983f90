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

/**
 * For sockets that only ever send to addresses the kernel gave us (rinfo.address of a
 * query): those are valid IP literals, so the family is all there is to find. Skips
 * isIP's regular expression on every reply (about 1% of a cache hit's CPU here).
 */
export function kernelAddressLookup(host: string, _options: unknown, callback: LookupCallback): void {
  callback(null, host, host.includes(':') ? 6 : 4);
}
