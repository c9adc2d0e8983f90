// Free loopback endpoints for one test: a random 127.x.y.z (never 127.0.0.0/24, which
// holds 127.0.0.1 and the systemd-resolved stubs 127.0.0.53/.54) and a high port that is
// free for both UDP and TCP on it, so tests running in parallel never collide.
import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';

export interface Endpoint {
  address: string;
  port: number;
}

/** A random address in 127.1.0.1–127.254.255.254 (loopback, routed to lo by the kernel). */
export function freeAddress(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

function bindUdp(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    s.once('error', (e) => { s.close(); reject(e); });
    s.bind(port, address, () => resolve(s));
  });
}

function bindTcp(address: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port, host: address, exclusive: true }, () => resolve(s));
  });
}

/**
 * A port in 20000–32767 on `address` that both a UDP and a TCP socket could bind just now.
 * Random rather than kernel-chosen so that it stays clear of the ephemeral range that
 * clients (dig, the agent's upstream sockets) draw their source ports from (32768–60999).
 */
export async function freePort(address: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = randomInt(20000, 32768);
    let udp: dgram.Socket | undefined;
    let tcp: net.Server | undefined;
    try {
      udp = await bindUdp(address, port);
      tcp = await bindTcp(address, port);
      return port;
    } catch {
      // taken: try another
    } finally {
      udp?.close();
      await new Promise<void>((r) => (tcp ? tcp.close(() => r()) : r()));
    }
  }
  throw new Error(`no free UDP+TCP port found on ${address} after 50 tries`);
}

/** A fresh random loopback address with a free port on it. */
export async function freeEndpoint(): Promise<Endpoint> {
  const address = freeAddress();
  return { address, port: await freePort(address) };
}

/** `n` endpoints with distinct addresses. */
export async function freeEndpoints(n: number): Promise<Endpoint[]> {
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  while (out.length < n) {
    const ep = await freeEndpoint();
    if (seen.has(ep.address)) continue;
    seen.add(ep.address);
    out.push(ep);
  }
  return out;
}

/** "127.1.2.3:5353" or "[::1]:5353": the form --upstream and --stub-domain take. */
export function hostPort(ep: Endpoint): string {
  return net.isIPv6(ep.address) ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

/** The given address/port, with a random address and/or a free port filled in. */
export async function endpointOrFree(o: { address?: string; port?: number }): Promise<Endpoint> {
  const address = o.address ?? freeAddress();
  return { address, port: o.port ?? (await freePort(address)) };
}
