// Where the API server is and how to prove who we are: the pod's ServiceAccount (in a
// cluster) or a kubeconfig file (off-cluster, and tests). What nodedns supports of a
// kubeconfig: a server with its CA (or insecure-skip-tls-verify), and a bearer token, a
// token file, a client certificate or basic auth. Exec and auth-provider plugins are
// refused by name: they run programs and need a client library nodedns does not load.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface Credentials {
  server: string; // https://host:port (http:// only off-cluster, for tests)
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** the Authorization header, read at each request: token files rotate (bound ServiceAccount tokens live an hour) */
  authorization: () => string | undefined;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;

/** A token read from `file`, kept for a minute: kubelet rewrites it well before it expires. */
function tokenFile(file: string): () => string {
  let token = '';
  let readAt = -Infinity;
  return () => {
    const now = performance.now();
    if (now - readAt > TOKEN_REREAD_MS) {
      try {
        token = readFileSync(file, 'utf8').trim();
        readAt = now;
      } catch (e) {
        if (!token) throw new Error(`cannot read the token file ${file}: ${(e as Error).message}`);
        // keep the last token; the next request tries the file again
      }
    }
    return token;
  };
}

export function inClusterCredentials(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not running in a pod?)');
  const read = (name: string) => {
    try {
      return readFileSync(`${dir}/${name}`);
    } catch (e) {
      throw new Error(`cannot read ${dir}/${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (is a ServiceAccount token mounted?)`);
    }
  };
  const token = tokenFile(`${dir}/token`);
  token(); // fail now, not at the first request
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: read('ca.crt'),
    insecureSkipTlsVerify: false,
    authorization: () => `Bearer ${token()}`,
  };
}

type Named<T> = { name?: string } & T;
interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

export function kubeconfigCredentials(file: string): Credentials {
  const text = readFileSync(file, 'utf8');
  // JSON is YAML too, and needs no parser loaded: the YAML parser costs memory
  const doc = (text.trimStart().startsWith('{') ? JSON.parse(text) : (require('yaml') as typeof import('yaml')).parse(text)) as KubeconfigFile | null;
  if (!doc || typeof doc !== 'object') throw new Error('not a kubeconfig (empty, or not a YAML mapping)');
  const current = doc['current-context'];
  if (!current) throw new Error('no current-context');
  const ctx = doc.contexts?.find((c) => c.name === current)?.context;
  if (!ctx) throw new Error(`context "${current}" is not defined`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string') throw new Error(`cluster "${ctx.cluster ?? ''}" of context "${current}" has no server`);
  const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  for (const plugin of ['exec', 'auth-provider']) {
    if (user[plugin]) throw new Error(`user "${ctx.user}" authenticates with ${plugin}, which nodedns does not run; use a token, a token file or a client certificate`);
  }
  if (cluster['proxy-url']) throw new Error(`cluster "${ctx.cluster}" has a proxy-url, which nodedns does not support`);
  const base = dirname(resolve(file));
  const bytes = (from: Record<string, unknown>, dataKey: string, fileKey: string): Buffer | undefined => {
    const data = from[dataKey];
    if (typeof data === 'string') return Buffer.from(data, 'base64');
    const path = from[fileKey];
    return typeof path === 'string' ? readFileSync(resolve(base, path)) : undefined;
  };
  let authorization: () => string | undefined = () => undefined;
  if (typeof user.token === 'string') {
    const header = `Bearer ${user.token}`;
    authorization = () => header;
  } else if (typeof user.tokenFile === 'string') {
    const token = tokenFile(resolve(base, user.tokenFile));
    authorization = () => `Bearer ${token()}`;
  } else if (typeof user.username === 'string') {
    const header = `Basic ${Buffer.from(`${user.username}:${String(user.password ?? '')}`).toString('base64')}`;
    authorization = () => header;
  }
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: bytes(cluster, 'certificate-authority-data', 'certificate-authority'),
    cert: bytes(user, 'client-certificate-data', 'client-certificate'),
    key: bytes(user, 'client-key-data', 'client-key'),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined,
    authorization,
  };
}
