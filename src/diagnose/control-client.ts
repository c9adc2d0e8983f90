// The client side of the control socket: HTTP over a unix socket, bounded in time.
import { Buffer } from 'node:buffer';
import { request } from 'node:http';
import type { DebugClient } from '../serve/agent';
import type { PodsReport } from '../pods/report';
import type { AgentState, LoopReport, QueryReport } from './control-types';

const MAX_RESPONSE = 4 * 1024 * 1024;

export class ControlError extends Error {
  constructor(message: string, readonly noAgent: boolean) {
    super(message);
  }
}

function call<T>(socketPath: string, method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = request({
      socketPath, method, path, timeout: timeoutMs, agent: false, // one connection per request: no stale keep-alive socket
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) { req.destroy(new ControlError(`the agent's answer is over ${MAX_RESPONSE} bytes`, false)); return; }
        chunks.push(c);
      });
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reject(new ControlError(`the agent on ${socketPath} sent something that is not JSON`, false));
        }
        if (res.statusCode !== 200) {
          return reject(new ControlError(`the agent refused ${method} ${path}: ${(parsed as { error?: string }).error ?? res.statusCode}`, false));
        }
        resolve(parsed as T);
      });
      res.on('error', (e) => reject(new ControlError(e.message, false)));
    });
    req.on('timeout', () => req.destroy(new ControlError(`no answer from the agent on ${socketPath} within ${timeoutMs} ms`, false)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof ControlError) return reject(e);
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        return reject(new ControlError(`no agent answers on ${socketPath} (${e.code})`, true));
      }
      if (e.code === 'EACCES') {
        return reject(new ControlError(`permission denied on ${socketPath}: run as root (or in the nodedns pod)`, true));
      }
      reject(new ControlError(`${socketPath}: ${e.code ?? e.message}`, true));
    });
    req.end(text);
  });
}

export class ControlClient {
  constructor(readonly socketPath: string) {}

  state(timeoutMs = 3000): Promise<AgentState> {
    return call<AgentState>(this.socketPath, 'GET', '/state', undefined, timeoutMs);
  }

  /** `client`: the asking library's UDP size and EDNS (Agent.debugQuery); default unlimited. */
  query(name: string, type: string, client: DebugClient = {}, timeoutMs = 10_000): Promise<QueryReport> {
    return call<QueryReport>(this.socketPath, 'POST', '/query', { name, type, ...client }, timeoutMs);
  }

  pods(timeoutMs = 3000): Promise<PodsReport> {
    return call<PodsReport>(this.socketPath, 'GET', '/pods', undefined, timeoutMs);
  }

  loopCheck(probeTimeoutMs = 3000): Promise<LoopReport> {
    return call<LoopReport>(this.socketPath, 'POST', '/loop-check', { timeoutMs: probeTimeoutMs }, probeTimeoutMs + 5000);
  }
}

/** The running agent's client and state, or why there is none. */
export async function findAgent(socketPath: string): Promise<{ client: ControlClient; state: AgentState } | { reason: string }> {
  if (!socketPath) return { reason: 'the control socket is off (--control-socket "")' };
  const client = new ControlClient(socketPath);
  try {
    return { client, state: await client.state() };
  } catch (e) {
    return { reason: (e as Error).message };
  }
}
