// One question to one server, straight over the network (UDP or TCP), with the same
// clients the forwarder uses. Doctor's probes of upstreams, the cluster DNS and nodedns' own listeners.
import type { Endpoint } from '../config/types';
import { randomId } from '../forward/ids';
import { TcpChannel } from '../forward/tcp';
import { exchangeUdp } from '../forward/udp';
import { buildQuery, summarize, type MessageSummary } from './message';

export interface AskResult {
  server: string; // "10.0.0.1:53"
  transport: 'udp' | 'tcp';
  ms: number;
  summary?: MessageSummary;
  error?: string; // no usable answer: why
}

export function endpointText(ep: Endpoint): string {
  return ep.family === 6 ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
}

export async function ask(ep: Endpoint, name: string, type: string, o: { tcp?: boolean; timeoutMs?: number; cls?: string } = {}): Promise<AskResult> {
  const { msg, questionEnd } = buildQuery(name, type, randomId(), { cls: o.cls });
  const timeoutMs = o.timeoutMs ?? 2000;
  const transport = o.tcp ? 'tcp' : 'udp';
  const started = performance.now();
  let channel: TcpChannel | undefined;
  try {
    let res: Buffer;
    if (o.tcp) {
      channel = new TcpChannel(ep, 1000);
      res = await channel.exchange(msg, questionEnd, timeoutMs);
    } else {
      res = await exchangeUdp(ep, msg, questionEnd, timeoutMs);
    }
    const ms = performance.now() - started;
    try {
      return { server: endpointText(ep), transport, ms, summary: summarize(res, type) };
    } catch (e) {
      return { server: endpointText(ep), transport, ms, error: (e as Error).message };
    }
  } catch (e) {
    return { server: endpointText(ep), transport, ms: performance.now() - started, error: (e as Error).message };
  } finally {
    channel?.close();
  }
}

export function endpointOf(host: string, port: number): Endpoint {
  return { host, port, family: host.includes(':') ? 6 : 4 };
}
