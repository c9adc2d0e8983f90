// Parsers for single setting values. Each throws a plain Error describing what is
// allowed; the caller prefixes the flag or key name.
import { isIP } from 'node:net';
import type { Endpoint, StubDomain } from './types';

export function parseEndpoint(text: string, defaultPort = 53): Endpoint {
  const s = text.trim();
  let host = s;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1];
    if (bracket[2] !== undefined) port = parsePort(bracket[2]);
  } else if (isIP(s) === 0 && s.lastIndexOf(':') > 0 && s.indexOf(':') === s.lastIndexOf(':')) {
    host = s.slice(0, s.lastIndexOf(':'));
    port = parsePort(s.slice(s.lastIndexOf(':') + 1));
  }
  const family = isIP(host);
  if (family === 0) {
    throw new Error(`"${text}" is not an IP address with an optional port (examples: 10.96.0.10, 10.96.0.10:53, [fd00::a]:53)`);
  }
  return { host, port, family: family as 4 | 6 };
}

export function parseEndpointList(text: string): Endpoint[] {
  return splitList(text).map((s) => parseEndpoint(s));
}

export function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`"${text}" is not a port (1-65535)`);
  return n;
}

export function parseIp(text: string): string {
  const s = text.trim();
  if (isIP(s) === 0) throw new Error(`"${text}" is not an IPv4 or IPv6 address`);
  return s;
}

export function splitList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** "30", "30s", "500ms", "5m", "1h" -> seconds (a bare number is in `bareUnit`). */
export function parseDuration(text: string | number, bareUnit: 's' | 'ms'): number {
  if (typeof text === 'number') text = String(text);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration (examples: 500ms, 30s, 5m, 1h)`);
  return Number(m[1]) * UNITS[m[2] ?? bareUnit];
}

export function parseInteger(text: string | number, min: number, max: number): number {
  const n = typeof text === 'number' ? text : Number(String(text).trim());
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`"${text}" is not a whole number from ${min} to ${max}`);
  return n;
}

export function parseBool(text: string | boolean): boolean {
  if (typeof text === 'boolean') return text;
  const s = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw new Error(`"${text}" is not true or false`);
}

export function parseChoice<T extends string>(text: string, allowed: readonly T[]): T {
  const s = text.trim() as T;
  if (!allowed.includes(s)) throw new Error(`"${text}" is not one of ${allowed.join(', ')}`);
  return s;
}

/** A domain name in its canonical form: lower-case, no trailing dot, '' for the root. */
export function normalizeDomain(text: string): string {
  const s = text.trim().toLowerCase().replace(/\.$/, '');
  if (s === '') return '';
  if (s.length > 253 || !s.split('.').every((l) => l.length > 0 && l.length <= 63 && /^[a-z0-9_*-]+$/.test(l))) {
    throw new Error(`"${text}" is not a domain name`);
  }
  return s;
}

/** "example.com=10.0.0.1,10.0.0.2:5353" */
export function parseStubDomain(text: string): StubDomain {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`"${text}" is not domain=ip[:port][,ip[:port]…] (example: corp.example=10.0.0.53)`);
  const servers = parseEndpointList(text.slice(eq + 1));
  if (servers.length === 0) throw new Error(`"${text}" names no server after "="`);
  return { domain: normalizeDomain(text.slice(0, eq)), servers };
}

/** "db.internal=10.0.0.7,fd00::7" */
export function parseHostEntry(text: string): [string, string[]] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`"${text}" is not name=ip[,ip…] (example: db.internal=10.0.0.7)`);
  const ips = splitList(text.slice(eq + 1)).map(parseIp);
  if (ips.length === 0) throw new Error(`"${text}" names no address after "="`);
  return [normalizeDomain(text.slice(0, eq)), ips];
}

/** "host:port" or ":port" for listen addresses; '' = off. */
export function parseListenAddr(text: string): string {
  const s = text.trim();
  if (s === '') return '';
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) {
    // an IPv6 address without brackets, as the downward API gives it ($(HOST_IP):9253): the port is after the last colon
    const bare = /^([0-9a-fA-F:.]+):(\d+)$/.exec(s);
    if (bare && isIP(bare[1]) === 6) return `[${bare[1]}]:${parsePort(bare[2])}`;
    throw new Error(`"${text}" is not host:port, [v6]:port or :port (example: 10.0.0.5:9253)`);
  }
  const host = m[1] ?? m[2];
  if (host !== '' && isIP(host) === 0) throw new Error(`"${text}": "${host}" is not an IP address`);
  parsePort(m[3]);
  return s;
}

/** "10.0.0.0/8", "fd00::/8" or a single address -> "address/prefix"; an address outside its own prefix is an error. */
export function parseCidr(text: string): string {
  const s = text.trim();
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) throw new Error(`"${text}" is not an address or CIDR (examples: 10.0.0.0/8, fd00::/8, 192.0.2.7)`);
  const max = family === 4 ? 32 : 128;
  const prefix = slash < 0 ? max : Number(s.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (slash >= 0 && !/^\d+$/.test(s.slice(slash + 1)))) {
    throw new Error(`"${text}": the prefix length must be a whole number from 0 to ${max}`);
  }
  return `${ip}/${prefix}`;
}

export function listenAddrParts(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`"${addr}" is not host:port`);
  return { host: m[1] ?? m[2] ?? '', port: Number(m[3]) };
}
