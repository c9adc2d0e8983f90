// The few calls nodedns makes to the Kubernetes API, over node:https: list a collection,
// watch it from a resourceVersion (newline-delimited JSON events), create an object.
// Why not @kubernetes/client-node: loading it costs about 60 MiB of RSS in every node's
// pod (it loads every model and API of Kubernetes to make any call), more than the rest of
// nodedns together (make bench, "nodedns at rest").
import { Buffer } from 'node:buffer';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Credentials } from './credentials';

/** A list or an object bigger than this is refused: ConfigMaps are at most 1 MiB. */
export const MAX_BODY = 8 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;

/** An HTTP error from the API server: `code` the status, `body` its Status object when it sent one. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly code: number, readonly body: unknown, message: string) {
    super(message);
  }
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  [k: string]: unknown;
}
export interface KubeObject { metadata?: ObjectMeta; [k: string]: unknown }
export interface KubeList<T> { metadata?: { resourceVersion?: string }; items: T[] }
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchStream {
  /** resolves when the server ends the stream; rejects on a network or HTTP error (an ApiError for HTTP) */
  readonly done: Promise<void>;
  abort(): void;
}

type Query = Record<string, string | number | boolean | undefined>;

function search(query: Query | undefined): string {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function statusMessage(code: number, body: unknown): string {
  const m = (body as { message?: unknown } | undefined)?.message;
  return `HTTP ${code}${typeof m === 'string' && m ? `: ${m}` : ''}`;
}

export class KubeApi {
  readonly server: string;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly watchAgent: http.Agent;

  constructor(private readonly creds: Credentials) {
    this.server = creds.server;
    this.url = new URL(creds.server);
    const tls = this.url.protocol === 'https:';
    if (!tls && this.url.protocol !== 'http:') throw new Error(`server ${creds.server}: not an http(s) URL`);
    const opts: https.AgentOptions = {
      keepAlive: true, maxSockets: 4, ca: creds.ca, cert: creds.cert, key: creds.key,
      rejectUnauthorized: !creds.insecureSkipTlsVerify, servername: creds.tlsServerName,
    };
    this.agent = tls ? new https.Agent(opts) : new http.Agent(opts);
    // watches hold their connection for minutes: never queued behind each other or behind a list
    const watchOpts = { ...opts, keepAlive: false, maxSockets: Infinity };
    this.watchAgent = tls ? new https.Agent(watchOpts) : new http.Agent(watchOpts);
  }

  private open(method: string, path: string, query: Query | undefined, agent: http.Agent, body?: string): http.ClientRequest {
    const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
    const auth = this.creds.authorization();
    if (auth) headers.Authorization = auth;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const base = this.url.pathname.replace(/\/+$/, '');
    const request = this.url.protocol === 'https:' ? https.request : http.request;
    return request({ protocol: this.url.protocol, hostname: this.url.hostname.replace(/^\[|\]$/g, ''), port: this.url.port || undefined,
      path: base + path + search(query), method, headers, agent });
  }

  /** One request with a JSON answer; an ApiError for any status but 2xx. */
  request<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = this.open(method, path, query, this.agent, text);
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > MAX_BODY) req.destroy(new Error(`${method} ${path}: answer larger than ${MAX_BODY} bytes`));
          else chunks.push(d);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text.slice(0, 200); }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parsed as T);
          else reject(new ApiError(code, parsed, statusMessage(code, parsed)));
        });
      });
      req.end(text);
    });
  }

  list<T extends KubeObject>(path: string, query?: Query): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, query).then((l) => ({ ...l, items: Array.isArray(l?.items) ? l.items : [] }));
  }

  /** One object by its path, e.g. /api/v1/namespaces/NS/pods/NAME. */
  get<T extends KubeObject>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  create<T extends KubeObject>(path: string, body: T): Promise<T> {
    return this.request<T>('POST', path, undefined, body);
  }

  /**
   * Watches a collection (query: resourceVersion, fieldSelector, …). `onEvent` gets each event;
   * an ERROR event carries a Status (410 Gone: the version is too old, list again).
   */
  watch<T extends KubeObject>(path: string, query: Query, onEvent: (type: WatchEventType, obj: T) => void): WatchStream {
    const req = this.open('GET', path, { ...query, watch: true }, this.watchAgent);
    let aborted = false;
    const done = new Promise<void>((resolve, reject) => {
      req.on('error', (e) => (aborted ? resolve() : reject(e)));
      req.on('socket', (s) => s.setKeepAlive(true, 30_000)); // a peer gone without a FIN is noticed
      req.on('response', (res) => {
        const code = res.statusCode ?? 0;
        if (code < 200 || code >= 300) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => { if (text.length < 64 * 1024) text += d; });
          res.on('end', () => {
            let body: unknown;
            try { body = JSON.parse(text); } catch { body = text.slice(0, 200); }
            reject(new ApiError(code, body, statusMessage(code, body)));
          });
          return;
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          pending += d;
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl).trim();
            pending = pending.slice(nl + 1);
            if (!line) continue;
            let ev: { type?: WatchEventType; object?: T };
            try {
              ev = JSON.parse(line);
            } catch {
              req.destroy(new Error(`${path}: the watch stream sent a line that is not JSON`));
              return;
            }
            if (ev.type && ev.object && typeof ev.object === 'object') onEvent(ev.type, ev.object);
          }
          if (pending.length > MAX_BODY) req.destroy(new Error(`${path}: a watch event larger than ${MAX_BODY} bytes`));
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (aborted ? resolve() : reject(e)));
        res.on('aborted', () => (aborted ? resolve() : reject(new Error(`${path}: the watch stream was cut`))));
      });
    });
    req.end();
    return {
      done,
      abort: () => { aborted = true; req.destroy(); },
    };
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}
