// The small Kubernetes client (src/kube/api.ts, credentials.ts, watch.ts) against the
// in-test API server's real wire format, and against a TLS server with a CA of the test's
// own: credentials from a kubeconfig or from a pod's ServiceAccount, list, create, watch
// (re-watch from the last version when the stream ends, list again after 410 Gone), and
// @kubernetes/client-node never loaded unless `kc` is asked for.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../src/config/load';
import { ApiError, KubeApi } from '../src/kube/api';
import { connect } from '../src/kube/client';
import { inClusterCredentials, kubeconfigCredentials } from '../src/kube/credentials';
import { watchNamed } from '../src/kube/watch';
import { configMap, startFakeApiServer, type FakeApiServer } from './helpers/fake-apiserver';

const cleanups: (() => unknown)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nodedns-kubeapi-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function fakeApi(token?: string): Promise<FakeApiServer> {
  const api = await startFakeApiServer({ token });
  cleanups.push(() => api.close());
  return api;
}

const kubeconfig = (server: string, user: string, cluster = '') => [
  'apiVersion: v1', 'kind: Config', 'current-context: c',
  'contexts: [{name: c, context: {cluster: k, user: u}}]',
  `clusters: [{name: k, cluster: {server: "${server}"${cluster}}}]`,
  `users: [{name: u, user: ${user}}]`, '',
].join('\n');

const libraryLoaded = () => Object.keys(require.cache).some((k) => k.includes('@kubernetes/client-node'));

describe('Kubernetes credentials', () => {
  it('reads a bearer token, a token file (relative to the kubeconfig) or basic auth from a kubeconfig', async () => {
    const api = await fakeApi('sekret');
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'token'), 'sekret\n');
    for (const user of ['{token: sekret}', '{tokenFile: token}']) {
      fs.writeFileSync(path.join(dir, 'config'), kubeconfig(api.url, user));
      const client = new KubeApi(kubeconfigCredentials(path.join(dir, 'config')));
      const l = await client.list('/api/v1/namespaces/kube-system/configmaps');
      assert.deepEqual(l.items, []);
      client.close();
    }
    assert.ok(api.requests.length === 2 && api.requests.every((r) => r.auth === 'Bearer sekret'), JSON.stringify(api.requests));
    fs.writeFileSync(path.join(dir, 'config'), kubeconfig(api.url, '{username: ann, password: pw}'));
    assert.equal(kubeconfigCredentials(path.join(dir, 'config')).authorization(), `Basic ${Buffer.from('ann:pw').toString('base64')}`);
  });

  it('refuses what it cannot do, naming it', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'config');
    fs.writeFileSync(file, kubeconfig('https://10.0.0.1', '{exec: {command: aws}}'));
    assert.throws(() => kubeconfigCredentials(file), /user "u" authenticates with exec, which nodedns does not run; use a token/);
    fs.writeFileSync(file, 'apiVersion: v1\nkind: Config\n');
    assert.throws(() => kubeconfigCredentials(file), /no current-context/);
    fs.writeFileSync(file, kubeconfig('https://10.0.0.1', '{}').replace('cluster: k, user', 'cluster: nope, user'));
    assert.throws(() => kubeconfigCredentials(file), /cluster "nope" of context "c" has no server/);
    assert.throws(() => inClusterCredentials({}), /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
    assert.throws(() => inClusterCredentials({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir),
      /cannot read .*\/token: ENOENT|cannot read the token file/);
  });

  it('takes the ServiceAccount in a pod: the service address, its CA, and the token from its file', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'token'), 'first');
    fs.writeFileSync(path.join(dir, 'ca.crt'), 'CA');
    const c = inClusterCredentials({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    assert.equal(c.server, 'https://[fd00::1]:443');
    assert.equal(c.ca?.toString(), 'CA');
    assert.equal(c.insecureSkipTlsVerify, false);
    assert.equal(c.authorization(), 'Bearer first');
  });

  it('connect() answers with the small client and loads @kubernetes/client-node only when kc is asked for', async () => {
    const api = await fakeApi();
    const { config } = loadConfig(['--kubeconfig', api.kubeconfig], {});
    const client = connect(config);
    api.put(configMap('kube-system', 'kube-dns', { a: '1' }));
    const l = await client.core.listNamespacedConfigMap({ namespace: 'kube-system', fieldSelector: 'metadata.name=kube-dns' });
    assert.equal(l.items[0].data?.a, '1');
    assert.equal(api.requests.at(-1)!.query.fieldSelector, 'metadata.name=kube-dns');
    const err = await client.api.list('/api/v1/namespaces/x/nothings').catch((e: unknown) => e);
    assert.ok(err instanceof ApiError && err.code === 404, String(err));
    assert.match(err.message, /^HTTP 404: the server could not find the requested resource/);
    assert.equal(libraryLoaded(), false, 'nothing loads the library at run time');
    client.api.close();
  });
});

describe('TLS', () => {
  it('verifies the server against the CA given, and refuses it without one', async () => {
    const dir = tmpDir();
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=apiserver', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ServiceList', metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'kube-dns' } }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const list = (extra: object) => {
      const c = new KubeApi({ server: url, insecureSkipTlsVerify: false, authorization: () => undefined, ...extra });
      return c.list('/api/v1/namespaces/kube-system/services').finally(() => c.close());
    };
    assert.equal((await list({ ca: fs.readFileSync(cert) })).items[0].metadata?.name, 'kube-dns');
    await assert.rejects(list({}), /self-signed certificate/);
    assert.equal((await list({ insecureSkipTlsVerify: true })).metadata?.resourceVersion, '7');
  });
});

describe('watching one named object', () => {
  it('follows changes, watches again from the last version when the stream ends, lists again only after 410 Gone', async () => {
    const api = await fakeApi();
    const client = new KubeApi(kubeconfigCredentials(api.kubeconfig));
    cleanups.push(() => client.close());
    const seen: (string | undefined)[] = [];
    api.put(configMap('kube-system', 'kube-dns', { v: '1' }));
    api.put(configMap('kube-system', 'other', { v: 'x' }));
    const w = watchNamed<{ metadata?: { name?: string }; data?: { v?: string } }>({
      api: client, path: '/api/v1/namespaces/kube-system/configmaps', namespace: 'kube-system', name: 'kube-dns',
      onChange: (cm) => seen.push(cm?.data?.v), log: pino({ level: 'silent' }), initialBackoffMs: 20, maxBackoffMs: 100,
    });
    cleanups.push(() => w.stop());
    await w.synced;
    await api.waitFor(() => api.openWatches() === 1, 10_000, 'the watch');
    const lists = () => api.requests.filter((r) => r.path.endsWith('/configmaps') && !r.query.watch).length;
    assert.deepEqual(seen, ['1']);
    assert.equal(api.requests.find((r) => r.query.watch)!.query.fieldSelector, 'metadata.name=kube-dns');
    api.put(configMap('kube-system', 'kube-dns', { v: '2' }));
    await api.waitFor(() => seen.length === 2, 10_000, 'the change');
    // the server ends the stream (its watch timeout): watched again from where it was, no new list
    api.closeWatches();
    api.put(configMap('kube-system', 'kube-dns', { v: '3' }));
    await api.waitFor(() => seen.includes('3'), 10_000, 'the change made while the stream was down');
    assert.equal(lists(), 1, 'no list needed to go on');
    // history compacted while away: 410 Gone, and a list catches up
    api.closeWatches();
    api.compact();
    api.put(configMap('kube-system', 'kube-dns', { v: '4' }));
    api.compact();
    await api.waitFor(() => seen.includes('4'), 10_000, 'the change seen by listing again');
    assert.ok(lists() >= 2);
    api.remove('ConfigMap', 'kube-system', 'kube-dns');
    await api.waitFor(() => seen.at(-1) === undefined, 10_000, 'the delete');
    assert.ok(w.healthy());
    await w.stop();
    await api.waitFor(() => api.openWatches() === 0, 10_000, 'the watch closed on stop');
  });
});
