// The interface that holds nodedns' local addresses, managed over netlink (no `ip` binary
// needed). nodedns creates a dummy link (default "nodelocaldns") and adds every local
// address as /32 or /128. Kernels built without the dummy driver refuse the link
// (EOPNOTSUPP); the addresses then go on `lo`, which every kernel has, and the log says so.
import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
// The package's index also loads its nl80211, WireGuard and generic-netlink modules
// (nl80211's structs alone are 240 KB of source kept on the heap); take only route netlink.
import { FlagsNew } from 'netlink/dist/constants';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink/dist/rt/rt';

const AF_INET = 2;
const AF_INET6 = 10;
const IFLA_INFO_KIND = 1;
const NOT_SUPPORTED = /ENOTSUP|EOPNOTSUPP|EAFNOSUPPORT|EPROTONOSUPPORT/;

export interface InterfaceCheck {
  link: string; // the interface the addresses are (to be) on
  linkMissing: boolean;
  down: boolean;
  missingIps: string[];
}

/** What one ensure() created, so that a failed start can take exactly that back. */
export interface AddedParts {
  link?: { index: number; name: string };
  ips: { ip: string; index: number }[];
}

export interface EnsureResult {
  repaired: ('interface' | 'address')[];
  link: string;
  added: AddedParts;
}

/** An IP literal as the bytes netlink wants. */
export function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  if (isIP(ip) !== 6) throw new Error(`"${ip}" is not an IP address`);
  let text = ip.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const gap = text.indexOf('::');
  const head = parse(gap >= 0 ? text.slice(0, gap) : text);
  const tail = gap >= 0 ? parse(text.slice(gap + 2)) : [];
  const words = gap >= 0 ? [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail] : head;
  const buf = Buffer.alloc(16);
  words.forEach((w, i) => buf.writeUInt16BE(w, i * 2));
  return buf;
}

function nestedKind(kind: string): Buffer {
  const v = Buffer.from(kind + '\0');
  const attr = Buffer.alloc(4 + ((v.length + 3) & ~3));
  attr.writeUInt16LE(4 + v.length, 0);
  attr.writeUInt16LE(IFLA_INFO_KIND, 2);
  v.copy(attr, 4);
  return attr;
}

function isLoopbackIp(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

export class LocalInterface {
  private socket: RtNetlinkSocket | undefined;
  /** true once the kernel refused a dummy link: the addresses live on lo */
  private onLoopback = false;
  private noted = new Set<string>();

  constructor(readonly name: string, private ips: string[], private readonly log: Logger) {}

  setIps(ips: string[]): void {
    this.ips = ips;
  }

  private rt(): RtNetlinkSocket {
    this.socket ??= createRtNetlink();
    return this.socket;
  }

  close(): void {
    this.socket?.socket.close();
    this.socket = undefined;
  }

  private async links() {
    return this.rt().getLinks();
  }

  /** What is missing, without changing anything. */
  async check(): Promise<InterfaceCheck> {
    const links = await this.links();
    const own = links.find((l) => l.attrs.ifname === this.name);
    const lo = links.find((l) => l.data.flags?.loopback);
    const target = own ?? (this.onLoopback ? lo : undefined);
    const addrs = await this.rt().getAddresses();
    const missingIps = this.ips.filter((ip) => {
      const want = ipBytes(ip);
      return !addrs.some((a) => (a.attrs.local ?? a.attrs.address)?.equals(want));
    });
    return {
      link: target?.attrs.ifname ?? this.name,
      linkMissing: !target,
      down: target ? !target.data.flags?.up : false,
      missingIps,
    };
  }

  /** Creates what is missing: the link (or falls back to lo), brings it up, adds the addresses. */
  async ensure(): Promise<EnsureResult> {
    const repaired: EnsureResult['repaired'] = [];
    const added: AddedParts = { ips: [] };
    let links = await this.links();
    let target = links.find((l) => l.attrs.ifname === this.name);
    if (!target && !this.onLoopback) {
      try {
        await this.rt().newLink({}, { ifname: this.name, linkinfo: nestedKind('dummy') }, { flags: FlagsNew.CREATE | FlagsNew.EXCL });
        repaired.push('interface');
        this.log.info({ interface: this.name }, `created dummy interface ${this.name}`);
      } catch (e) {
        const msg = (e as Error).message;
        if (!NOT_SUPPORTED.test(msg)) {
          throw new Error(`could not create dummy interface ${this.name}: ${msg}; nodedns needs CAP_NET_ADMIN in the host network namespace (hostNetwork: true), or pass --no-setup-interface and add the addresses yourself`);
        }
        this.onLoopback = true;
        this.log.warn({ interface: 'lo', error: msg },
          `the kernel has no dummy link driver (${msg.replace('Request rejected: ', '')}), so the local addresses go on lo instead of ${this.name}; `
          + `this works the same for serving, and \`nodedns teardown\` removes them from lo`);
      }
      links = await this.links();
      target = links.find((l) => l.attrs.ifname === this.name);
    }
    target ??= links.find((l) => l.data.flags?.loopback);
    if (!target || target.data.index === undefined) throw new Error(`no interface ${this.name} and no loopback interface found over netlink`);
    const index = target.data.index;
    const link = target.attrs.ifname ?? this.name;
    if (repaired.includes('interface')) added.link = { index, name: link };
    if (!target.data.flags?.up) {
      await this.rt().setLink({ index, change: { up: true }, flags: { up: true } });
      if (!repaired.includes('interface')) repaired.push('interface');
      this.log.info({ interface: link }, `set ${link} up`);
    }
    const addrs = await this.rt().getAddresses();
    for (const ip of this.ips) {
      const bytes = ipBytes(ip);
      const found = addrs.find((a) => (a.attrs.local ?? a.attrs.address)?.equals(bytes));
      if (found) {
        if (found.data.index !== index) this.noteOnce(`elsewhere ${ip}`, () => this.log.info({ address: ip }, `${ip} is already on another interface (index ${found.data.index}); leaving it there`));
        continue;
      }
      const v6 = isIP(ip) === 6;
      const label = !v6 && link === 'lo' ? 'lo:nodedns' : undefined;
      await this.rt().newAddress(
        { family: v6 ? AF_INET6 : AF_INET, prefixlen: v6 ? 128 : 32, index, scope: 0, flags: v6 ? { nodad: true } : {} },
        { local: bytes, address: bytes, ...(label ? { label } : {}) },
        { flags: FlagsNew.CREATE | FlagsNew.EXCL },
      );
      if (!repaired.includes('address')) repaired.push('address');
      added.ips.push({ ip, index });
      this.log.info({ address: ip, interface: link }, `added ${ip}/${v6 ? 128 : 32} to ${link}`);
    }
    return { repaired, link, added };
  }

  /** Takes back what one ensure() added (a link it created takes its addresses with it). */
  async undo(added: AddedParts): Promise<string[]> {
    const undone: string[] = [];
    for (const a of added.ips) {
      if (added.link?.index === a.index) continue;
      const v6 = isIP(a.ip) === 6;
      const bytes = ipBytes(a.ip);
      await this.rt().delAddress({ family: v6 ? AF_INET6 : AF_INET, prefixlen: v6 ? 128 : 32, index: a.index }, { local: bytes, address: bytes });
      undone.push(`address ${a.ip}`);
    }
    if (added.link) {
      await this.rt().delLink({ index: added.link.index });
      undone.push(`interface ${added.link.name}`);
    }
    return undone;
  }

  /** Deletes the dummy link, or the local addresses from lo. Returns what it removed. */
  async remove(): Promise<string[]> {
    const removed: string[] = [];
    const links = await this.links();
    const own = links.find((l) => l.attrs.ifname === this.name);
    if (own?.data.index !== undefined && !own.data.flags?.loopback) {
      await this.rt().delLink({ index: own.data.index });
      removed.push(`interface ${this.name}`);
    }
    const lo = links.find((l) => l.data.flags?.loopback);
    if (lo?.data.index !== undefined) {
      const addrs = await this.rt().getAddresses();
      for (const ip of this.ips) {
        if (isLoopbackIp(ip)) continue; // never touch the loopback addresses themselves
        const bytes = ipBytes(ip);
        const a = addrs.find((x) => x.data.index === lo.data.index && (x.attrs.local ?? x.attrs.address)?.equals(bytes)
          && x.data.prefixlen === (bytes.length === 16 ? 128 : 32));
        if (!a) continue;
        await this.rt().delAddress(
          { family: a.data.family, prefixlen: a.data.prefixlen, index: lo.data.index },
          { local: bytes, address: bytes },
        );
        removed.push(`${ip} from lo`);
      }
    }
    return removed;
  }

  private noteOnce(key: string, say: () => void): void {
    if (this.noted.has(key)) return;
    this.noted.add(key);
    say();
  }
}
