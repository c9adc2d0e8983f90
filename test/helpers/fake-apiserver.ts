// A Kubernetes API server for tests, speaking the real wire format over HTTP: JSON
// objects with resourceVersions, lists ({kind: ServiceList, metadata: {resourceVersion},
// items}), watch streams of newline-delimited {type, object} that start after a
// resourceVersion, 410 Gone for a version that was compacted away, and POSTed Events.
// The real @kubernetes/client-node is pointed at it through a kubeconfig file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Obj = { apiVersion?: string; kind?: string; metadata: Record<string, any>; [k: string]: any };

const PLURALS: Record<string, string> = { Service: 'services', ConfigMap: 'configmaps', Event: 'events', Node: 'nodes', Pod: 'pods' };
/** field selectors the real API server supports for these kinds (a subset), as paths into the object */
const FIELDS: Record<string, string[]> = { 'metadata.name': ['metadata', 'name'], 'metadata.namespace': ['metadata', 'namespace'], 'spec.nodeName': ['spec', 'nodeName'] };
const KINDS: Record<string, string> = Object.fromEntries(Object.entries(PLURALS).map(([k, v]) => [v, k]));

interface HistoryEntry { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; plural: string; ns: string; obj: Obj }
interface OpenWatch { res: ServerResponse; plural: string; ns: string; select: (o: Obj) => boolean }

export interface RequestRecord { method: string; path: string; query: Record<string, string>; auth?: string }

export interface FakeApiServer {
  readonly url: string;
  readonly kubeconfig: string; // path of a kubeconfig file pointing at this server
  readonly requests: RequestRecord[];
  /** bodies of POSTed core/v1 Events, in order */
  readonly events: Obj[];
  /** creates or replaces an object (kind + metadata.namespace + metadata.name) and tells the watchers */
  put(obj: Obj): Obj;
  remove(kind: string, namespace: string, name: string): void;
  /** forgets history: a watch from an older resourceVersion gets 410 Gone */
  compact(): void;
  /** how 410 is delivered: an ERROR event in a 200 stream (what kube-apiserver does) or an HTTP 410 */
  goneStyle: 'event' | 'http';
  /** ends every open watch stream, as the API server does at its watch timeout */
  closeWatches(): void;
  /** the next `count` requests whose path starts with `prefix` get HTTP `status` */
  failNext(prefix: string, status: number, count?: number): void;
  /** open watch streams right now */
  openWatches(): number;
  /** waits until `pred` holds (polling), or throws after timeoutMs */
  waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): Promise<void>;
}

function status(code: number, reason: string, message: string): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export async function startFakeApiServer(opts: { token?: string } = {}): Promise<FakeApiServer> {
  let rv = 100;
  let minRv = 0; // oldest resourceVersion a watch may start from
  const store = new Map<string, Obj>(); // plural/ns/name -> object
  const history: HistoryEntry[] = [];
  const watches = new Set<OpenWatch>();
  const requests: RequestRecord[] = [];
  const events: Obj[] = [];
  const failures: { prefix: string; status: number; count: number }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'nodedns-fakeapi-'));
  // A process that exits without close() (the benchmark stopped by Ctrl-C exits at once) still removes it.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let uid = 0;

  const key = (plural: string, ns: string, name: string) => `${plural}/${ns}/${name}`;
  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  // a collection path without a namespace (/api/v1/pods) is every namespace, as in the real API
  const matches = (w: { plural: string; ns: string; select: (o: Obj) => boolean }, e: { plural: string; ns: string; obj: Obj }) =>
    w.plural === e.plural && (w.ns === '' || w.ns === e.ns) && w.select(e.obj);
  const writeEvent = (w: OpenWatch, type: string, obj: Obj) => {
    if (!w.res.writableEnded) w.res.write(JSON.stringify({ type, object: obj }) + '\n');
  };

  const record = (type: HistoryEntry['type'], plural: string, ns: string, obj: Obj) => {
    const e: HistoryEntry = { rv, type, plural, ns, obj };
    history.push(e);
    for (const w of watches) if (matches(w, e)) writeEvent(w, type, obj);
  };

  const put = (input: Obj): Obj => {
    const plural = PLURALS[input.kind ?? ''];
    if (!plural) throw new Error(`fake apiserver: unknown kind ${input.kind}`);
    const ns = input.metadata.namespace ?? '';
    const k = key(plural, ns, input.metadata.name);
    const old = store.get(k);
    rv++;
    const obj: Obj = JSON.parse(JSON.stringify(input));
    obj.metadata = { ...obj.metadata, resourceVersion: String(rv), uid: old?.metadata.uid ?? `uid-${++uid}`,
      creationTimestamp: old?.metadata.creationTimestamp ?? obj.metadata.creationTimestamp ?? new Date().toISOString() };
    store.set(k, obj);
    record(old ? 'MODIFIED' : 'ADDED', plural, ns, obj);
    return obj;
  };

  const remove = (kind: string, ns: string, name: string) => {
    const plural = PLURALS[kind];
    const k = key(plural, ns, name);
    const old = store.get(k);
    if (!old) return;
    store.delete(k);
    rv++;
    record('DELETED', plural, ns, { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } });
  };

  const selector = (fs: string | undefined): ((o: Obj) => boolean) => {
    if (!fs) return () => true;
    const terms = fs.split(',').map((t) => {
      const m = /^([a-zA-Z.]+)=(.*)$/.exec(t);
      const path = m ? FIELDS[m[1]] : undefined;
      if (!m || !path) throw new Error(`unsupported fieldSelector ${fs}`);
      return { path, value: m[2] };
    });
    return (o) => terms.every((t) => String(t.path.reduce((x: any, k) => x?.[k], o) ?? '') === t.value);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(u.searchParams);
    requests.push({ method: req.method ?? '', path: u.pathname, query, auth: req.headers.authorization });
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
      return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const f = failures.find((x) => u.pathname.startsWith(x.prefix) && x.count > 0);
    if (f) {
      f.count--;
      return send(res, f.status, status(f.status, 'InternalError', `injected failure ${f.status}`));
    }
    const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?([a-z]+)(?:\/([^/]+))?$/.exec(u.pathname);
    if (!m || !KINDS[m[2]]) return send(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${u.pathname})`));
    const [, ns = '', plural, name] = m;
    const kind = KINDS[plural];
    if (req.method === 'POST' && !name) {
      let body = '';
      for await (const chunk of req) body += chunk;
      let obj: Obj;
      try {
        obj = JSON.parse(body);
      } catch {
        return send(res, 400, status(400, 'BadRequest', 'body is not JSON'));
      }
      if (obj.kind !== kind || !obj.metadata?.name) return send(res, 422, status(422, 'Invalid', `expected a ${kind} with metadata.name`));
      if (obj.metadata.namespace && obj.metadata.namespace !== ns) return send(res, 400, status(400, 'BadRequest', 'namespace mismatch'));
      if (store.has(key(plural, ns, obj.metadata.name))) {
        return send(res, 409, status(409, 'AlreadyExists', `${plural} "${obj.metadata.name}" already exists`));
      }
      const created = put({ ...obj, metadata: { ...obj.metadata, namespace: ns } });
      if (kind === 'Event') events.push(obj);
      return send(res, 201, created);
    }
    if (req.method !== 'GET') return send(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported here`));
    if (name) {
      const obj = store.get(key(plural, ns, name));
      return obj ? send(res, 200, { apiVersion: 'v1', kind, ...obj }) : send(res, 404, status(404, 'NotFound', `${plural} "${name}" not found`));
    }
    let select: (o: Obj) => boolean;
    try {
      select = selector(query.fieldSelector);
    } catch (e) {
      return send(res, 400, status(400, 'BadRequest', (e as Error).message));
    }
    const current = [...store.entries()].filter(([k]) => k.startsWith(ns ? `${plural}/${ns}/` : `${plural}/`)).map(([, o]) => o)
      .filter(select);
    if (query.watch !== 'true' && query.watch !== '1') {
      return send(res, 200, { kind: `${kind}List`, apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: current });
    }
    const from = query.resourceVersion ? Number(query.resourceVersion) : 0;
    if (from !== 0 && from < minRv) {
      const gone = status(410, 'Expired', `too old resource version: ${from} (${minRv})`);
      if (server.goneStyle === 'http') return send(res, 410, gone);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ type: 'ERROR', object: gone }) + '\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const w: OpenWatch = { res, plural, ns, select };
    if (from === 0) for (const o of current) writeEvent(w, 'ADDED', o);
    else for (const e of history) if (e.rv > from && matches(w, e)) writeEvent(w, e.type, e.obj);
    watches.add(w);
    res.on('close', () => watches.delete(w));
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((e) => send(res, 500, status(500, 'InternalError', String(e))));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: fake',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true', // the client refuses plain http without it
    'contexts:',
    '- name: fake',
    '  context:',
    '    cluster: fake',
    '    user: fake',
    'current-context: fake',
    'users:',
    '- name: fake',
    `  user: ${opts.token ? `{token: ${opts.token}}` : '{}'}`,
    '',
  ].join('\n'));

  const server: FakeApiServer = {
    url,
    kubeconfig,
    requests,
    events,
    goneStyle: 'event',
    put,
    remove,
    compact: () => { minRv = rv; history.length = 0; },
    closeWatches: () => { for (const w of watches) w.res.end(); watches.clear(); },
    failNext: (prefix, code, count = 1) => { failures.push({ prefix, status: code, count }); },
    openWatches: () => watches.size,
    waitFor: async (pred, timeoutMs, what) => {
      const until = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > until) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: async () => {
      for (const w of watches) w.res.destroy();
      watches.clear();
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
      removeDir();
      process.off('exit', removeDir);
    },
  };
  return server;
}

/** A DNS Service as kube-dns / kube-dns-upstream are defined, pointing at `ep` (a test server). */
export function dnsService(name: string, ep: { address: string; port: number }, extra: Record<string, unknown> = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'kube-system', name, labels: { 'k8s-app': 'kube-dns' } },
    spec: {
      clusterIP: ep.address,
      clusterIPs: [ep.address],
      ports: [
        { name: 'dns', port: ep.port, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: ep.port, protocol: 'TCP', targetPort: 53 },
      ],
      selector: { 'k8s-app': 'kube-dns' },
      ...extra,
    },
  };
}

export function configMap(namespace: string, name: string, data: Record<string, string>): Obj {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace, name }, data };
}

export interface PodSpecLite {
  node?: string; // spec.nodeName, default node-a
  ips?: string[]; // status.podIPs
  phase?: string; // default Running
  hostNetwork?: boolean;
  dnsPolicy?: string;
  dnsConfig?: { nameservers?: string[]; searches?: string[]; options?: { name: string; value?: string }[] };
  deleting?: boolean; // metadata.deletionTimestamp
  created?: string; // metadata.creationTimestamp
}

/** A Pod as the API server returns it (the fields nodedns reads, plus a container so it looks real). */
export function podObject(namespace: string, name: string, o: PodSpecLite = {}): Obj {
  const ips = o.ips ?? [];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, labels: { app: name }, ...(o.deleting ? { deletionTimestamp: new Date().toISOString() } : {}),
      ...(o.created ? { creationTimestamp: o.created } : {}) },
    spec: {
      nodeName: o.node ?? 'node-a',
      containers: [{ name: 'main', image: 'registry.example/app:1' }],
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      dnsPolicy: o.dnsPolicy ?? 'ClusterFirst',
      ...(o.dnsConfig ? { dnsConfig: o.dnsConfig } : {}),
    },
    status: { phase: o.phase ?? 'Running', ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}) },
  };
}
