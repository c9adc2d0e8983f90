// dgram resolves every address it binds, sends or connects to through dns.lookup, which
// for an IP literal still costs a process.nextTick per packet (measured here: skipping it
// gave 12-25% more exchanges/s). nodedns only ever uses IP literals, so its sockets get
// lookups that answer at once and never resolve a name.

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;
type Lookup = (host: string, options: unknown, callback: LookupCallback) => void;

/**
 * For sockets that only ever send to addresses the kernel gave us (rinfo.address of a
 * query): those are valid IP literals, so the family is all there is to find. Skips
 * isIP's regular expression on every reply (about 1% of a cache hit's CPU here).
 */
export const kernelAddressLookup: Lookup = (host, _options, callback) => callback(null, host, host.includes(':') ? 6 : 4);

/**
 * For a socket whose every address is an IP literal of one known family: an upstream
 * endpoint's (validated when configured) and the wildcard it binds to. isIP's regular
 * expression, twice per upstream query (bind and connect), was 5% of nodedns' CPU in
 * the mixed benchmark. A name passed by mistake still never resolves: the kernel address
 * parse fails (EINVAL), and so does the try.
 */
export const familyLookup: Record<4 | 6, Lookup> = {
  4: (host, _options, callback) => callback(null, host, 4),
  6: (host, _options, callback) => callback(null, host, 6),
};
