// dgram resolves every address it binds, sends or connects to through dns.lookup, which
// for an IP literal still costs a process.nextTick per packet (measured here: skipping it
// gave 12-25% more exchanges/s). nodedns only ever uses IP literals, so its sockets get
// lookups that answer at once and never resolve a name.

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;
type Lookup = (host: string, options: unknown, callback: LookupCallback) => void;

/**
 * For a socket whose every address is an IP literal of its own family: an upstream
 * endpoint's (validated when configured) and the wildcard it binds to; a listener's own
 * address and the senders it replies to (rinfo.address, from the kernel). isIP's regular
 * expression cost about 1% of a cache hit's CPU on every reply, and 5% of nodedns' CPU in
 * the mixed benchmark twice per upstream query (bind and connect). A name passed by
 * mistake still never resolves: the kernel address parse fails (EINVAL), and so does the try.
 */
export const familyLookup: Record<4 | 6, Lookup> = {
  4: (host, _options, callback) => callback(null, host, 4),
  6: (host, _options, callback) => callback(null, host, 6),
};
