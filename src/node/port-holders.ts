// Who already holds the DNS port on the local addresses, read from /proc before nodedns
// changes anything: a start that would fail to bind fails here, with the holder's PID,
// instead of after the addresses went on the interface.
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { ipBytes } from './interface';

/** The address column of /proc/net/{udp,tcp}[6]: each 32-bit word in host (little-endian) order. */
function procHex(ip: string): string {
  const b = ipBytes(ip);
  let out = '';
  for (let i = 0; i < b.length; i += 4) out += Buffer.from([b[i + 3], b[i + 2], b[i + 1], b[i]]).toString('hex');
  return out.toUpperCase();
}

const TCP_LISTEN = '0A';

interface Holding { what: string; inode: string }

function holdings(ips: string[], port: number): Holding[] {
  const out: Holding[] = [];
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const family of [4, 6] as const) {
    const mine = ips.filter((ip) => isIP(ip) === family);
    if (mine.length === 0) continue;
    const any = family === 4 ? '0.0.0.0' : '::';
    const wanted = new Map([...mine, any].map((ip) => [procHex(ip), ip]));
    for (const proto of ['udp', 'tcp'] as const) {
      let text = '';
      try { text = readFileSync(`/proc/net/${proto}${family === 6 ? '6' : ''}`, 'utf8'); } catch { continue; }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10) continue;
        const [addr, p] = f[1].split(':');
        if (p !== portHex || !wanted.has(addr)) continue;
        if (proto === 'tcp' && f[3] !== TCP_LISTEN) continue;
        out.push({ what: `${proto} ${wanted.get(addr)}:${port}`, inode: f[9] });
      }
    }
  }
  return out;
}

/** The PIDs holding each socket inode (only those this process may look into). */
function pidsOf(inodes: Set<string>): Map<string, number[]> {
  const found = new Map<string, number[]>();
  let pids: string[] = [];
  try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return found; }
  for (const pid of pids) {
    let fds: string[] = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target = '';
      try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) found.set(m[1], [...(found.get(m[1]) ?? []), Number(pid)]);
    }
  }
  return found;
}

/** "udp 169.254.20.10:53 (PID 1234)" for every socket that would keep nodedns from binding. */
export function portHolders(ips: string[], port: number): string[] {
  const h = holdings(ips, port);
  if (h.length === 0) return [];
  const pids = pidsOf(new Set(h.map((x) => x.inode)));
  return h.map((x) => {
    const p = [...new Set(pids.get(x.inode) ?? [])];
    return `${x.what}${p.length ? ` (PID ${p.join(', ')})` : ''}`;
  });
}
