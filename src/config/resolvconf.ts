// resolv.conf as a libc resolver reads it. Used for the host's upstreams and,
// by the diagnostics, for the resolv.conf a pod gets.

export interface ResolvConf {
  nameservers: string[];
  search: string[]; // the last "search" or "domain" line wins, as in glibc
  options: Record<string, string | true>; // ndots:5 -> { ndots: '5' }, rotate -> { rotate: true }
}

export function parseResolvConf(text: string): ResolvConf {
  const rc: ResolvConf = { nameservers: [], search: [], options: {} };
  for (const line of text.split('\n')) {
    const words = line.replace(/[#;].*$/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const [key, ...rest] = words;
    if (key === 'nameserver' && rest[0]) {
      // glibc ignores a zone index suffix only for link-local v6; keep the address part
      rc.nameservers.push(rest[0].split('%')[0]);
    } else if (key === 'search') {
      rc.search = rest.map((d) => d.replace(/\.$/, ''));
    } else if (key === 'domain' && rest[0]) {
      rc.search = [rest[0].replace(/\.$/, '')];
    } else if (key === 'options') {
      for (const o of rest) {
        const colon = o.indexOf(':');
        if (colon > 0) rc.options[o.slice(0, colon)] = o.slice(colon + 1);
        else rc.options[o] = true;
      }
    }
  }
  return rc;
}

/** ndots as glibc applies it: default 1, capped at 15. */
export function ndotsOf(rc: ResolvConf): number {
  const v = rc.options.ndots;
  const n = typeof v === 'string' ? parseInt(v, 10) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 15) : 1;
}
