// The host's real upstream resolvers (seed 000): resolv.conf, skipping the
// systemd-resolved stub in favour of the file it reads itself, and never ourselves.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseResolvConf } from './resolvconf';
import { ConfigError, type Endpoint } from './types';

export const RESOLVED_STUBS = ['127.0.0.53', '127.0.0.54'];
export const HOST_RESOLV = 'etc/resolv.conf';
export const RESOLVED_RESOLV = 'run/systemd/resolve/resolv.conf';

export interface Discovery {
  upstreams: Endpoint[];
  source: string; // the file the upstreams came from
  filesRead: string[];
  warnings: string[]; // things the operator should know, already phrased for the log
  skipped: { host: string; reason: string }[];
}

function readNameservers(path: string): string[] | undefined {
  try {
    return parseResolvConf(readFileSync(path, 'utf8')).nameservers;
  } catch {
    return undefined;
  }
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

export function discoverUpstreams(hostRoot: string, localIps: string[]): Discovery {
  const hostFile = join(hostRoot, HOST_RESOLV);
  const resolvedFile = join(hostRoot, RESOLVED_RESOLV);
  const d: Discovery = { upstreams: [], source: hostFile, filesRead: [hostFile], warnings: [], skipped: [] };
  let servers = readNameservers(hostFile);
  if (servers === undefined) {
    throw new ConfigError(`cannot read ${hostFile}; mount the host's /etc at --host-root ${hostRoot} or set --upstream ip[,ip]`);
  }
  if (servers.some((s) => RESOLVED_STUBS.includes(s))) {
    for (const s of servers.filter((x) => RESOLVED_STUBS.includes(x))) {
      d.skipped.push({ host: s, reason: 'systemd-resolved stub; its real upstreams are read instead' });
    }
    const real = readNameservers(resolvedFile);
    d.filesRead.push(resolvedFile);
    if (real === undefined) {
      d.warnings.push(`${hostFile} points at the systemd-resolved stub but ${resolvedFile} cannot be read; mount /run/systemd/resolve from the host`);
      servers = servers.filter((s) => !RESOLVED_STUBS.includes(s));
    } else {
      d.source = resolvedFile;
      servers = [...servers.filter((s) => !RESOLVED_STUBS.includes(s)), ...real.filter((s) => !RESOLVED_STUBS.includes(s))];
    }
  }
  const seen = new Set<string>();
  for (const s of servers) {
    if (seen.has(s)) continue;
    seen.add(s);
    const family = isIP(s);
    if (family === 0) {
      d.skipped.push({ host: s, reason: 'not an IP address' });
    } else if (localIps.includes(s)) {
      d.skipped.push({ host: s, reason: 'one of nodedns\' own addresses (forwarding there would loop)' });
    } else if (s === '0.0.0.0' || s === '::') {
      d.skipped.push({ host: s, reason: 'unspecified address' });
    } else {
      if (isLoopback(s)) d.warnings.push(`upstream ${s} is a loopback address: reachable from the host network namespace only, never from a pod`);
      d.upstreams.push({ host: s, port: 53, family: family as 4 | 6 });
    }
  }
  if (d.upstreams.length === 0) {
    const why = d.skipped.map((x) => `${x.host} (${x.reason})`).join(', ') || 'no nameserver lines';
    throw new ConfigError(
      `no usable upstream in ${d.filesRead.join(' and ')}: ${why}. Point the host resolv.conf at a real resolver, or set --upstream ip[,ip]`,
    );
  }
  return d;
}
