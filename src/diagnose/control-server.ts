// The control channel: small JSON requests over HTTP on a unix socket (--control-socket),
// so that `nodedns doctor`, `explain` and `query` see the running agent: the config in
// effect, upstream health, readiness, and its cache and routing for a test query.
//   GET  /state               config, routes, upstreams with health, readiness, cache sizes
//   GET  /pods                this node's pods with their counters and top names (nodedns top)
//   POST /query {name,type}   one query through the agent's routing and cache (Agent.debugQuery)
//   POST /loop-check          probes every upstream for a forwarding loop back to nodedns
// Only root (or the socket's owner) can connect: the socket is created 0600.
import { Buffer } from 'node:buffer';
import { chmodSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import type { Agent } from '../serve/agent';
import { podsReport } from '../pods/report';
import { checkLoops } from './loop-probe';
import { checkName, parseType, summarize } from './message';
import type { AgentState, QueryReport } from './control-types';

const MAX_BODY = 4096;
const MAX_CONNECTIONS = 16;
const REQUEST_TIMEOUT_MS = 15_000;

export interface ControlServer {
  path: string; // '' when off
  close(): Promise<void>;
}

const startedAt = new Date();

export function agentState(agent: Agent): AgentState {
  const d = agent.hostUpstreams.discovery;
  const size = agent.stats.cacheSize();
  const s = agent.stats;
  return {
    pid: process.pid,
    version: (require('../../package.json') as { version: string }).version,
    startedAt: startedAt.toISOString(),
    config: agent.config,
    upstreamSource: { source: agent.hostUpstreams.source, filesRead: d?.filesRead, skipped: d?.skipped, warnings: d?.warnings },
    routes: agent.router.routes.map((r) => ({ zone: r.zone || '.', kind: r.kind, servers: r.pool.upstreams.map((u) => u.address) })),
    upstreams: agent.upstreamStatus(),
    readiness: agent.readiness(),
    cache: { positive: size.success, negative: size.denial },
    counters: {
      requests: { ...s.requests }, cacheHits: { ...s.cacheHits }, cacheMisses: s.cacheMisses, servedStale: s.cacheServedStale,
      coalesced: s.coalesced, overload: s.overload, localAnswers: s.localAnswers,
    },
  };
}

async function runQuery(agent: Agent, body: unknown): Promise<QueryReport> {
  const b = (body ?? {}) as { name?: unknown; type?: unknown; udpSize?: unknown; edns?: unknown };
  if (typeof b.name !== 'string') throw new RequestError('"name" (a string) is required');
  const name = checkName(b.name);
  const type = parseType(typeof b.type === 'string' ? b.type : 'A');
  if (b.udpSize !== undefined && (typeof b.udpSize !== 'number' || !Number.isInteger(b.udpSize) || b.udpSize < 512 || b.udpSize > 65535)) {
    throw new RequestError('"udpSize" must be an integer from 512 to 65535');
  }
  const r = await agent.debugQuery(name, type, { udpSize: b.udpSize as number | undefined, edns: b.edns === false ? false : undefined });
  return {
    name, type, zone: r.zone || '.', routeKind: r.routeKind, cache: r.cache, upstream: r.upstream,
    latencyMs: r.latencyMs, error: r.error, response: r.response.toString('base64'), summary: summarize(r.response, type),
  };
}

class RequestError extends Error {}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new RequestError(`request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new RequestError('the body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function route(agent: Agent, req: IncomingMessage): Promise<unknown> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/state') return agentState(agent);
  if (req.method === 'POST' && path === '/query') return runQuery(agent, await readBody(req));
  if (req.method === 'GET' && path === '/pods') return podsReport(agent.handler.pods, agent.config.podTopNames);
  if (req.method === 'POST' && path === '/loop-check') {
    const b = ((await readBody(req)) ?? {}) as { timeoutMs?: unknown };
    const t = typeof b.timeoutMs === 'number' && b.timeoutMs >= 100 && b.timeoutMs <= 10_000 ? b.timeoutMs : 3000;
    return { results: await checkLoops(agent, t) };
  }
  throw new RequestError(`no such request: ${req.method} ${path} (GET /state, GET /pods, POST /query, POST /loop-check)`);
}

/** Is something answering on the socket? (A left-over file from a crash is not.) */
function answering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean) => { s.destroy(); resolve(v); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/**
 * Listens on config.controlSocket ('' = off). Never fails the agent: a problem is logged and
 * the agent runs without the channel (diagnostics then resolve directly).
 */
export async function startControlServer(agent: Agent, config: Config, log: Logger): Promise<ControlServer> {
  const path = config.controlSocket;
  if (!path) return { path: '', close: async () => {} };
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (statSync(path, { throwIfNoEntry: false })) {
      if (await answering(path)) {
        log.warn({ controlSocket: path }, 'another nodedns answers on the control socket; this one runs without it (set --control-socket to a different path)');
        return { path: '', close: async () => {} };
      }
      unlinkSync(path); // left by a process that died
    }
  } catch (e) {
    log.warn({ controlSocket: path, err: (e as Error).message }, 'cannot prepare the control socket; doctor/explain/query will resolve directly. Check that its directory is writable');
    return { path: '', close: async () => {} };
  }
  const server: Server = createServer((req, res) => {
    route(agent, req).then(
      (body) => send(res, 200, body),
      (e: Error) => send(res, e instanceof RequestError ? 400 : 500, { error: e.message }),
    );
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // exclusive: in a cluster worker, listen here rather than through the primary
      server.listen({ path, exclusive: true }, () => { server.off('error', reject); resolve(); });
    });
    chmodSync(path, 0o600);
  } catch (e) {
    log.warn({ controlSocket: path, err: (e as Error).message }, 'cannot listen on the control socket; doctor/explain/query will resolve directly');
    server.close();
    return { path: '', close: async () => {} };
  }
  const ino = statSync(path).ino;
  const removeFile = () => {
    try {
      if (statSync(path, { throwIfNoEntry: false })?.ino === ino) unlinkSync(path);
    } catch { /* already gone */ }
  };
  process.once('exit', removeFile); // a worker stopped by process.exit() leaves no socket file behind
  server.unref();
  log.info({ controlSocket: path }, 'control socket open for nodedns doctor, explain and query');
  return {
    path,
    close: () => new Promise<void>((resolve) => {
      process.off('exit', removeFile);
      server.closeAllConnections();
      server.close(() => resolve());
      removeFile();
    }),
  };
}
