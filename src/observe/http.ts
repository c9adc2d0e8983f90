// The two small HTTP listeners: /metrics on --metrics-addr, /health and /ready on
// --health-addr. GET and HEAD only, short timeouts, a cap on connections per client
// address and in all; at the cap the oldest connection makes room, so that connections
// held open by pods on the node cannot keep the kubelet's probes out (a failed liveness
// probe restarts nodedns).
import { Buffer } from 'node:buffer';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { listenAddrParts } from '../config/values';
import { ClientCounts } from '../serve/client-counts';
import { BindError } from '../serve/listen-errors';

export const MAX_CONNECTIONS = 64;
export const MAX_CONNECTIONS_PER_CLIENT = 8;
const TIMEOUT_MS = 5000;

export interface HttpReply {
  status: number;
  body: string;
  contentType?: string;
}

export type Route = (req: IncomingMessage) => Promise<HttpReply> | HttpReply;

function send(res: ServerResponse, head: boolean, r: HttpReply): void {
  res.writeHead(r.status, { 'content-type': r.contentType ?? 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(r.body), 'cache-control': 'no-store' });
  res.end(head ? undefined : r.body);
}

function bindMessage(e: NodeJS.ErrnoException, addr: string, flag: string): string {
  switch (e.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${addr} for ${flag}: another process already uses it (see: ss -ltnp 'sport = :${listenAddrParts(addr).port}'; node-cache?). Stop it, choose another ${flag}, or set ${flag} "" to turn it off`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${addr} for ${flag}: the address is not on any interface of this node. Use one of the node's addresses (the DaemonSet passes status.hostIP), or 127.0.0.1`;
    case 'EACCES':
    case 'EPERM':
      return `cannot listen on ${addr} for ${flag}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
    default:
      return `cannot listen on ${addr} for ${flag}: ${e.code ?? e.message}`;
  }
}

/** Listens on `addr` ("ip:port", "[v6]:port", or ":port" for every address, only when the operator asks for it) and serves `routes` by path. */
export async function listenHttp(addr: string, flag: string, routes: Record<string, Route>): Promise<Server> {
  const { host, port } = listenAddrParts(addr);
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      send(res, false, { status: 405, body: `${method} is not supported; use GET\n` });
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    const route = routes[path];
    if (!route) {
      send(res, false, { status: 404, body: `no such path ${path}; try ${Object.keys(routes).join(', ')}\n` });
      return;
    }
    Promise.resolve().then(() => route(req)).then(
      (r) => send(res, method === 'HEAD', r),
      (e: unknown) => send(res, false, { status: 500, body: `internal error: ${(e as Error).message}\n` }),
    );
  });
  capConnections(server);
  server.requestTimeout = TIMEOUT_MS;
  server.headersTimeout = TIMEOUT_MS;
  server.keepAliveTimeout = TIMEOUT_MS;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new BindError(bindMessage(e as NodeJS.ErrnoException, addr, flag))));
    server.listen({ port, host: host || undefined, exclusive: true }, () => resolve());
  });
  server.on('error', () => { /* per-connection errors: nothing to do */ });
  return server;
}

/** Per-address cap; at the global cap the oldest connection is closed for the newcomer. */
function capConnections(server: Server): void {
  const open = new Set<Socket>(); // oldest first
  const perClient = new ClientCounts();
  server.on('connection', (s: Socket) => {
    const client = s.remoteAddress ?? '';
    if (!perClient.add(client, MAX_CONNECTIONS_PER_CLIENT)) {
      s.destroy();
      return;
    }
    if (open.size >= MAX_CONNECTIONS) {
      const oldest = open.values().next().value!;
      oldest.destroy(); // its 'close' uncounts it
      open.delete(oldest);
    }
    open.add(s);
    s.once('close', () => {
      perClient.remove(client);
      open.delete(s);
    });
  });
}

export function closeHttp(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export const boundAddress = (s: Server): AddressInfo => s.address() as AddressInfo;
