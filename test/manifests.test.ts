// The manifests in daemonset/: the kustomizations resolve (by this test's own resolver and,
// where kubectl is installed, by `kubectl kustomize`), every object validates against the
// Kubernetes schema of its kind (the OpenAPI models shipped in @kubernetes/client-node:
// field names, types and required fields, recursively, unknown fields rejected), the
// references between objects hold, the DaemonSet's arguments are ones `nodedns run`
// accepts, and the ConfigMap's documented defaults are nodedns' real defaults.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { describe, it, after } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { applyYaml, defaults, finish, loadConfig } from '../src/config/load';
import { listenAddrParts } from '../src/config/values';
import { OPTION_BY_NAME } from '../src/config/options';
import { KUBE_DNS_SERVICE, UPSTREAM_SERVICE } from '../src/kube/cluster-dns';
import { CONFIG_KEY } from '../src/kube/configmaps';
import { DEFAULT_CONFIG } from '../src/kubelet/discover';
import { RESOLVED_RESOLV, HOST_RESOLV } from '../src/config/upstreams';

type Obj = Record<string, any>;
const ROOT = resolve(__dirname, '..', 'daemonset');
const MODELS = join(dirname(require.resolve('@kubernetes/client-node')), 'gen', 'models');

// ---------------------------------------------------------------- schema validation

interface Attr { name: string; baseName: string; type: string; format: string }
const requiredCache = new Map<string, Set<string>>();

function modelClass(type: string): { getAttributeTypeMap(): Attr[] } | undefined {
  const c = (k8s as unknown as Record<string, unknown>)[type] as { getAttributeTypeMap?: () => Attr[] } | undefined;
  return c && typeof c.getAttributeTypeMap === 'function' ? (c as { getAttributeTypeMap(): Attr[] }) : undefined;
}

/** Required fields of a model, from its generated .d.ts ('name': T is required, 'name'?: T is not). */
function requiredFields(type: string): Set<string> {
  let r = requiredCache.get(type);
  if (!r) {
    r = new Set();
    const text = readFileSync(join(MODELS, `${type}.d.ts`), 'utf8');
    for (const m of text.matchAll(/^ {4}'([^']+)'(\?)?:/gm)) if (!m[2]) r.add(m[1]);
    requiredCache.set(type, r);
  }
  return r;
}

function validateValue(v: unknown, type: string, format: string, path: string, errors: string[]): void {
  if (v === null || v === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (arr) {
    if (!Array.isArray(v)) { errors.push(`${path}: expected a list, got ${JSON.stringify(v)}`); return; }
    v.forEach((x, i) => validateValue(x, arr[1], format, `${path}[${i}]`, errors));
  } else if (map) {
    if (typeof v !== 'object' || Array.isArray(v)) { errors.push(`${path}: expected a map`); return; }
    for (const [k, x] of Object.entries(v as Obj)) validateValue(x, map[1], format, `${path}.${k}`, errors);
  } else if (type === 'string') {
    if (typeof v !== 'string') errors.push(`${path}: expected a string, got ${JSON.stringify(v)}`);
  } else if (type === 'number') {
    if (typeof v !== 'number' || (format.startsWith('int') && !Number.isInteger(v))) errors.push(`${path}: expected ${format || 'a number'}, got ${JSON.stringify(v)}`);
  } else if (type === 'boolean') {
    if (typeof v !== 'boolean') errors.push(`${path}: expected true or false, got ${JSON.stringify(v)}`);
  } else if (type === 'IntOrString') {
    if (typeof v !== 'string' && !Number.isInteger(v)) errors.push(`${path}: expected an integer or a string`);
  } else if (type === 'Date') {
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) errors.push(`${path}: expected a timestamp`);
  } else if (type === 'any' || type === 'object') {
    // free-form
  } else {
    validateModel(v, type, path, errors);
  }
}

function validateModel(v: unknown, type: string, path: string, errors: string[]): void {
  const cls = modelClass(type);
  if (!cls) { errors.push(`${path}: no schema for type ${type}`); return; }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) { errors.push(`${path}: expected a ${type} object`); return; }
  const attrs = cls.getAttributeTypeMap();
  const known = new Map(attrs.map((a) => [a.baseName, a]));
  for (const [k, x] of Object.entries(v as Obj)) {
    const a = known.get(k);
    if (!a) { errors.push(`${path}.${k}: unknown field in ${type}`); continue; }
    validateValue(x, a.type, a.format, `${path}.${k}`, errors);
  }
  for (const r of requiredFields(type)) {
    const a = attrs.find((x) => x.name === r);
    if (a && (v as Obj)[a.baseName] === undefined) errors.push(`${path}.${a.baseName}: required in ${type}`);
  }
}

function typeFor(obj: Obj): string {
  const version = String(obj.apiVersion ?? '').split('/').pop() ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${obj.kind}`;
}

function schemaErrors(obj: Obj): string[] {
  const errors: string[] = [];
  const where = `${obj.kind}/${obj.metadata?.name}`;
  if (!obj.apiVersion || !obj.kind) return [`${where}: apiVersion and kind are required`];
  validateModel(obj, typeFor(obj), where, errors);
  return errors;
}

// ---------------------------------------------------------------- semantic checks

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;
const HOSTPATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'];

function quantityBytes(q: string): number {
  const m = /^([0-9.]+)(Ki|Mi|Gi|k|M|G)?$/.exec(q)!;
  const mult: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

/** What the API server's validation would reject beyond the schema, for the kinds used here. */
function semanticErrors(objs: Obj[]): string[] {
  const e: string[] = [];
  const find = (kind: string, ns: string | undefined, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === ns);
  const seen = new Set<string>();
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) e.push(`${id}: defined twice`);
    seen.add(id);
    if (!DNS1123_SUBDOMAIN.test(o.metadata.name ?? '')) e.push(`${id}: metadata.name is not a DNS subdomain`);
    if (o.kind !== 'ClusterRole' && o.kind !== 'ClusterRoleBinding' && !o.metadata.namespace) e.push(`${id}: namespaced object without a namespace`);
    if (o.kind === 'Service') {
      for (const p of o.spec.ports ?? []) {
        if (!['TCP', 'UDP', 'SCTP'].includes(p.protocol ?? 'TCP')) e.push(`${id}: port protocol ${p.protocol}`);
        if (!(p.port >= 1 && p.port <= 65535)) e.push(`${id}: port ${p.port}`);
        if (p.name && (!DNS1123_LABEL.test(p.name) || p.name.length > 15)) e.push(`${id}: port name ${p.name}`);
      }
    }
    if (o.kind === 'RoleBinding') {
      if (!find(o.roleRef.kind, o.metadata.namespace, o.roleRef.name)) e.push(`${id}: roleRef ${o.roleRef.kind}/${o.roleRef.name} is not in the manifests`);
      for (const s of o.subjects ?? []) if (s.kind === 'ServiceAccount' && !find('ServiceAccount', s.namespace, s.name)) e.push(`${id}: subject ServiceAccount ${s.namespace}/${s.name} is missing`);
    }
    if (o.kind === 'DaemonSet') {
      const tpl = o.spec.template;
      for (const [k, v] of Object.entries(o.spec.selector.matchLabels as Obj)) {
        if (tpl.metadata.labels?.[k] !== v) e.push(`${id}: selector ${k}=${v} does not match the template's labels`);
      }
      const pod = tpl.spec;
      if (pod.serviceAccountName && !find('ServiceAccount', o.metadata.namespace, pod.serviceAccountName)) e.push(`${id}: ServiceAccount ${pod.serviceAccountName} missing`);
      if (!['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'].includes(pod.dnsPolicy ?? 'ClusterFirst')) e.push(`${id}: dnsPolicy`);
      const vols = new Set((pod.volumes ?? []).map((v: Obj) => v.name));
      if (vols.size !== (pod.volumes ?? []).length) e.push(`${id}: two volumes with one name`);
      for (const v of pod.volumes ?? []) if (v.hostPath && !HOSTPATH_TYPES.includes(v.hostPath.type ?? '')) e.push(`${id}: hostPath type ${v.hostPath.type}`);
      for (const c of pod.containers) {
        if (!DNS1123_LABEL.test(c.name)) e.push(`${id}: container name ${c.name}`);
        const mounts = new Set<string>();
        for (const m of c.volumeMounts ?? []) {
          if (!vols.has(m.name)) e.push(`${id}: volumeMount ${m.name} has no volume`);
          if (mounts.has(m.mountPath)) e.push(`${id}: two mounts at ${m.mountPath}`);
          mounts.add(m.mountPath);
        }
        for (const p of c.ports ?? []) {
          if (p.name && (!DNS1123_LABEL.test(p.name) || p.name.length > 15)) e.push(`${id}: port name ${p.name}`);
          if (pod.hostNetwork && p.hostPort !== undefined && p.hostPort !== p.containerPort) e.push(`${id}: hostNetwork needs hostPort == containerPort`);
        }
        for (const kind of ['requests', 'limits'] as const) {
          for (const [r, q] of Object.entries((c.resources?.[kind] ?? {}) as Obj)) if (!QUANTITY.test(String(q))) e.push(`${id}: ${kind}.${r} "${q}" is not a quantity`);
        }
        const req = c.resources?.requests?.memory;
        const lim = c.resources?.limits?.memory;
        if (req && lim && quantityBytes(req) > quantityBytes(lim)) e.push(`${id}: memory request above the limit`);
        const sc = c.securityContext ?? {};
        if (sc.privileged && sc.allowPrivilegeEscalation === false) e.push(`${id}: privileged with allowPrivilegeEscalation false is rejected`);
        for (const cap of [...(sc.capabilities?.add ?? []), ...(sc.capabilities?.drop ?? [])]) if (!/^[A-Z_]+$/.test(cap)) e.push(`${id}: capability ${cap}`);
        for (const probe of [c.livenessProbe, c.readinessProbe]) {
          if (probe?.httpGet && !String(probe.httpGet.path).startsWith('/')) e.push(`${id}: probe path`);
        }
      }
    }
  }
  return e;
}

// ---------------------------------------------------------------- kustomize resolution

function readDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Obj[] = [];
  for (const d of docs) {
    assert.deepEqual(d.errors.map((x) => x.message), [], `${relative(ROOT, file)} is not valid YAML`);
    const js = d.toJS() as Obj | null;
    if (js) out.push(js);
  }
  return out;
}

function kustomizationFile(dir: string): string {
  const f = join(dir, 'kustomization.yaml');
  assert.ok(existsSync(f), `${relative(ROOT, dir) || '.'}: no kustomization.yaml`);
  return f;
}

function pointer(path: string): string[] {
  return path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 add / replace / remove, the operations the components use. */
function applyJsonPatch(doc: Obj, ops: Obj[], where: string): void {
  for (const op of ops) {
    const parts = pointer(op.path);
    const last = parts.pop()!;
    let parent: any = doc;
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
      assert.ok(parent !== undefined, `${where}: patch path ${op.path} does not exist`);
    }
    if (op.op === 'add') {
      if (Array.isArray(parent)) {
        if (last === '-') parent.push(op.value);
        else parent.splice(Number(last), 0, op.value);
      } else parent[last] = op.value;
    } else if (op.op === 'replace') {
      assert.ok(Array.isArray(parent) ? Number(last) < parent.length : last in parent, `${where}: replace of missing ${op.path}`);
      parent[Array.isArray(parent) ? Number(last) : last] = op.value;
    } else if (op.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else {
      assert.fail(`${where}: patch op ${op.op} is not supported by this check`);
    }
  }
}

/** Resolves a kustomization directory the way kustomize does, for the features used here. */
function build(dir: string, kind: 'Kustomization' | 'Component' = 'Kustomization'): Obj[] {
  const file = kustomizationFile(dir);
  const [k] = readDocs(file);
  assert.equal(k.kind, kind, `${relative(ROOT, file)}: kind`);
  assert.equal(k.apiVersion, kind === 'Component' ? 'kustomize.config.k8s.io/v1alpha1' : 'kustomize.config.k8s.io/v1beta1');
  const known = new Set(['apiVersion', 'kind', 'resources', 'components', 'patches', 'images']);
  for (const key of Object.keys(k)) assert.ok(known.has(key), `${relative(ROOT, file)}: field ${key} is not handled by this check`);
  let objs: Obj[] = [];
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    assert.ok(existsSync(p), `${relative(ROOT, file)}: resource ${r} does not exist`);
    objs = objs.concat(statSync(p).isDirectory() ? build(p) : readDocs(p));
  }
  for (const c of k.components ?? []) {
    const p = resolve(dir, c);
    assert.ok(existsSync(p) && statSync(p).isDirectory(), `${relative(ROOT, file)}: component ${c} does not exist`);
    const comp = readDocs(kustomizationFile(p))[0];
    assert.equal(comp.kind, 'Component');
    applyPatches(objs, comp.patches ?? [], relative(ROOT, p));
  }
  applyPatches(objs, k.patches ?? [], relative(ROOT, file));
  for (const img of k.images ?? []) {
    for (const o of objs) {
      for (const c of o.spec?.template?.spec?.containers ?? []) {
        if (c.image === img.name || String(c.image).startsWith(`${img.name}:`)) c.image = `${img.newName ?? img.name}${img.newTag ? `:${img.newTag}` : ''}`;
      }
    }
  }
  return objs;
}

function applyPatches(objs: Obj[], patches: Obj[], where: string): void {
  for (const p of patches) {
    const t = p.target;
    const targets = objs.filter((o) => o.kind === t.kind && (!t.name || o.metadata.name === t.name)
      && (!t.group || String(o.apiVersion).startsWith(`${t.group}/`)));
    assert.ok(targets.length > 0, `${where}: patch target ${t.kind}/${t.name} not found`);
    const ops = readDocsText(p.patch);
    for (const o of targets) applyJsonPatch(o, ops, where);
  }
}

function readDocsText(text: string): Obj[] {
  const d = parseAllDocuments(text);
  assert.ok(Array.isArray(d) && d.length === 1 && d[0].errors.length === 0, 'an inline patch is not valid YAML');
  return d[0].toJS() as Obj[];
}

function sortKey(o: Obj): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function normalize(objs: Obj[]): Obj[] {
  return JSON.parse(JSON.stringify([...objs].sort((a, b) => sortKey(a).localeCompare(sortKey(b)))));
}

const tmp = mkdtempSync(join(tmpdir(), 'nodedns-manifests-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** An overlay with both kubelet components, written outside daemonset/ (as an operator would). */
function bothComponentsOverlay(): string {
  const dir = join(tmp, 'both');
  if (!existsSync(dir)) {
    spawnSync('mkdir', ['-p', dir]);
    const rel = (p: string) => posix.join(...relative(dir, join(ROOT, p)).split('/'));
    writeFileSync(join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${rel('base')}`,
      'components:',
      `  - ${rel('components/kubelet-writer')}`,
      `  - ${rel('components/kubelet-restart')}`,
      '',
    ].join('\n'));
  }
  return dir;
}

const BUILDS: [string, () => string][] = [
  ['daemonset/', () => ROOT],
  ['daemonset/overlays/kubelet-writer', () => join(ROOT, 'overlays', 'kubelet-writer')],
  ['base + kubelet-writer + kubelet-restart', bothComponentsOverlay],
];

function kubectlAvailable(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
}

function kubectlBuild(dir: string): Obj[] {
  const p = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(p.status, 0, `kubectl kustomize ${dir} failed:\n${p.stderr}`);
  return parseAllDocuments(p.stdout).map((d) => d.toJS() as Obj).filter(Boolean);
}

function daemonSet(objs: Obj[]): Obj {
  const ds = objs.find((o) => o.kind === 'DaemonSet');
  assert.ok(ds, 'no DaemonSet');
  return ds;
}

// ---------------------------------------------------------------- tests

describe('daemonset/ kustomizations', () => {
  for (const [name, dir] of BUILDS) {
    it(`${name}: resolves, and every object validates against its Kubernetes schema`, () => {
      const objs = build(dir());
      assert.ok(objs.length >= 9, `only ${objs.length} objects`);
      const errors = objs.flatMap(schemaErrors).concat(semanticErrors(objs));
      assert.deepEqual(errors, []);
    });
  }

  it('the same objects come out of kubectl kustomize', (t) => {
    if (!kubectlAvailable()) {
      t.skip('kubectl is not installed: the kustomize build was checked by this test\'s own resolver only');
      return;
    }
    for (const [name, dir] of BUILDS) {
      assert.deepEqual(normalize(kubectlBuild(dir())), normalize(build(dir())), name);
    }
  });

  it('the validator rejects what the API server would (so the checks above can fail)', () => {
    const ds = daemonSet(build(ROOT));
    const bad = JSON.parse(JSON.stringify(ds));
    bad.spec.template.spec.containers[0].imagePullPolcy = 'Always';
    bad.spec.template.spec.containers[0].ports[0].containerPort = '53';
    delete bad.spec.selector;
    bad.spec.template.spec.tolerations[0].tolerationSeconds = 1.5;
    assert.deepEqual(schemaErrors(bad).sort(), [
      'DaemonSet/nodedns.spec.selector: required in V1DaemonSetSpec',
      'DaemonSet/nodedns.spec.template.spec.containers[0].imagePullPolcy: unknown field in V1Container',
      'DaemonSet/nodedns.spec.template.spec.containers[0].ports[0].containerPort: expected int32, got "53"',
      'DaemonSet/nodedns.spec.template.spec.tolerations[0].tolerationSeconds: expected int64, got 1.5',
    ]);
    const sem = JSON.parse(JSON.stringify(ds));
    sem.spec.template.spec.containers[0].volumeMounts.push({ name: 'nowhere', mountPath: '/x' });
    sem.spec.template.metadata.labels = { other: 'x' };
    assert.equal(semanticErrors([sem]).length, 3); // no ServiceAccount, no volume, selector mismatch
  });
});

/** What the downward API gives a pod on a node (samples). */
const FIELD_SAMPLES: Record<string, string> = { 'spec.nodeName': 'node-1', 'status.hostIP': '10.0.0.5' };

/** The container's arguments after "run", with $(VAR) expanded from its env as the kubelet does ($$ is a literal $). */
function podArgs(container: Obj): string[] {
  const env = new Map<string, string>();
  for (const e of container.env ?? []) {
    const v = e.value ?? FIELD_SAMPLES[e.valueFrom?.fieldRef?.fieldPath];
    if (v !== undefined) env.set(e.name, v);
  }
  return (container.args as string[]).slice(1).map((a) => a.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => (name === undefined ? '$' : env.get(name) ?? m)));
}

describe('the DaemonSet', () => {
  const objs = build(ROOT);
  const ds = daemonSet(objs);
  const pod = ds.spec.template.spec;
  const c = pod.containers[0];

  it('has its arguments accepted by nodedns run', () => {
    assert.equal(c.args[0], 'run');
    const { config } = loadConfig(podArgs(c), { NODE_NAME: 'node-1' });
    assert.deepEqual(config.localIps, ['169.254.20.10']);
    assert.equal(config.hostRoot, '/host');
    assert.equal(config.kubeApi, true);
    assert.equal(config.nodeName, 'node-1');
    assert.ok(c.env.some((e: Obj) => e.name === 'NODE_NAME' && e.valueFrom.fieldRef.fieldPath === 'spec.nodeName'));
    // probes and ports are where nodedns listens
    const health = config.healthAddr.split(':');
    for (const p of [c.livenessProbe, c.readinessProbe]) {
      assert.equal(p.httpGet.host, health[0]);
      assert.equal(p.httpGet.port, Number(health[1]));
    }
    assert.equal(c.livenessProbe.httpGet.path, '/health');
    assert.equal(c.readinessProbe.httpGet.path, '/ready');
    assert.deepEqual(c.ports.filter((p: Obj) => p.containerPort === config.port).map((p: Obj) => p.protocol).sort(), ['TCP', 'UDP']);
    assert.ok(c.ports.some((p: Obj) => p.containerPort === listenAddrParts(config.metricsAddr).port));
  });

  it('listens for metrics on the node\'s own address (downward API), and nowhere on every address', () => {
    const { config } = loadConfig(podArgs(c), {});
    assert.ok(c.env.some((e: Obj) => e.name === 'HOST_IP' && e.valueFrom.fieldRef.fieldPath === 'status.hostIP'));
    assert.equal(listenAddrParts(config.metricsAddr).host, FIELD_SAMPLES['status.hostIP']);
    for (const addr of [config.metricsAddr, config.healthAddr]) assert.ok(!['', '0.0.0.0', '::'].includes(listenAddrParts(addr).host), addr);
    assert.ok(!config.localIps.some((ip) => ip === '0.0.0.0' || ip === '::'));
    assert.equal(config.allowOpenResolver, false);
  });

  it('is a node agent: host network, Default DNS, node-critical, every taint tolerated, safe rolling update', () => {
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'Default');
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.equal(ds.metadata.namespace, 'kube-system'); // system-node-critical is meant for kube-system
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    assert.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
    assert.match(String(ds.spec.updateStrategy.rollingUpdate.maxUnavailable), /^([1-9]\d?%|[1-9]\d*)$/);
  });

  it('has only the privileges it needs and a read-only root filesystem', () => {
    const sc = c.securityContext;
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.privileged, undefined);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.deepEqual([...sc.capabilities.add].sort(), ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW']);
    assert.equal(pod.hostPID, undefined);
    // writable places a read-only root needs: the control socket's and the owner lock's directory,
    // on the host so that a second nodedns on the node sees the lock
    const { config } = loadConfig(podArgs(c), {});
    const mountFor = (p: string) => c.volumeMounts.find((m: Obj) => p === m.mountPath || p.startsWith(m.mountPath + '/'));
    for (const path of [config.controlSocket, config.lockFile]) {
      const m = mountFor(path);
      assert.ok(m && !m.readOnly, `no writable mount for ${path}`);
      assert.deepEqual(pod.volumes.find((v: Obj) => v.name === m.name).hostPath, { path: '/run/nodedns', type: 'DirectoryOrCreate' });
    }
  });

  it('mounts the xtables lock, the host resolver files read-only, and no kubelet files', () => {
    const { config } = loadConfig(podArgs(c), {});
    const mount = (path: string) => c.volumeMounts.find((m: Obj) => m.mountPath === path);
    const vol = (name: string) => pod.volumes.find((v: Obj) => v.name === name);
    const lock = mount('/run/xtables.lock');
    assert.deepEqual(vol(lock.name).hostPath, { path: '/run/xtables.lock', type: 'FileOrCreate' });
    for (const rel of [HOST_RESOLV, dirname(RESOLVED_RESOLV)]) {
      const m = mount(join(config.hostRoot, rel));
      assert.ok(m, `nothing mounted at ${join(config.hostRoot, rel)}, which nodedns reads`);
      assert.equal(m.readOnly, true);
      assert.equal(vol(m.name).hostPath.path, `/${rel}`);
    }
    assert.ok(!pod.volumes.some((v: Obj) => v.hostPath?.path === '/etc'), 'the whole /etc (node credentials) must not be mounted');
    assert.ok(!pod.volumes.some((v: Obj) => String(v.hostPath?.path).startsWith('/var/lib/kubelet')));
  });

  it('asks for memory sized from the cache caps', () => {
    const { requests, limits } = c.resources;
    assert.ok(requests.cpu && requests.memory && limits.memory);
    assert.equal(limits.cpu, undefined, 'a CPU limit would throttle DNS');
    const cfg = defaults({});
    // measured (make bench, nodedns at rest): ~70 MiB for one process idle with the API; ~1.1 KiB per cache entry (2 KiB budgeted)
    const need = 72 * 2 ** 20 + (cfg.cache.positiveSize + cfg.cache.negativeSize) * 2048;
    assert.ok(quantityBytes(requests.memory) >= 96 * 2 ** 20, `memory request ${requests.memory} is below the measured full cache (96Mi budget)`);
    assert.ok(quantityBytes(limits.memory) >= need, `memory limit ${limits.memory} is below ${Math.ceil(need / 2 ** 20)}Mi`);
    const heap = /--max-old-space-size=(\d+)/.exec(c.env.find((e: Obj) => e.name === 'NODE_OPTIONS').value);
    assert.ok(heap && Number(heap[1]) * 2 ** 20 < quantityBytes(limits.memory));
  });

  it('is allowed by its RBAC to read what nodedns watches, and to post Events', () => {
    const { config } = loadConfig(podArgs(c), {});
    const rules = (ns: string) => objs.filter((o) => o.kind === 'Role' && o.metadata.namespace === ns).flatMap((r) => r.rules);
    const can = (ns: string, resource: string, name: string | undefined, verb: string) => rules(ns).some((r: Obj) =>
      r.apiGroups.includes('') && r.resources.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames || (name && r.resourceNames.includes(name))));
    for (const svc of [UPSTREAM_SERVICE, KUBE_DNS_SERVICE]) {
      for (const verb of ['list', 'watch']) assert.ok(can('kube-system', 'services', svc, verb), `${verb} services/${svc}`);
    }
    const [ns, name] = config.configMap.split('/');
    for (const verb of ['list', 'watch']) {
      assert.ok(can(ns, 'configmaps', name, verb), `${verb} configmaps/${name}`);
      assert.ok(can('kube-system', 'configmaps', 'kube-dns', verb));
    }
    assert.ok(can('default', 'events', undefined, 'create'));
    // and nothing more: no wildcard, no write outside events
    for (const r of objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').flatMap((x) => x.rules)) {
      assert.ok(!r.verbs.includes('*') && !r.resources.includes('*'));
      if (!r.resources.includes('events')) assert.deepEqual(r.verbs.filter((v: string) => !['get', 'list', 'watch'].includes(v)), []);
    }
    // cluster-wide: only list and watch of pods (nodedns asks for its own node's, spec.nodeName), bound to nodedns
    const clusterRoles = objs.filter((o) => o.kind === 'ClusterRole');
    assert.deepEqual(clusterRoles.flatMap((r) => r.rules), [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }]);
    assert.ok(config.watchPods);
    const binding = objs.find((o) => o.kind === 'ClusterRoleBinding')!;
    assert.equal(binding.roleRef.name, clusterRoles[0].metadata.name);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'nodedns', namespace: 'kube-system' }]);
  });

  it('comes with the kube-dns-upstream Service and a headless metrics Service', () => {
    const up = objs.find((o) => o.kind === 'Service' && o.metadata.name === UPSTREAM_SERVICE)!;
    assert.equal(up.metadata.namespace, 'kube-system');
    assert.deepEqual(up.spec.selector, { 'k8s-app': 'kube-dns' });
    assert.deepEqual(up.spec.ports.map((p: Obj) => [p.name, p.protocol, p.port]), [['dns', 'UDP', 53], ['dns-tcp', 'TCP', 53]]);
    const metrics = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'nodedns-metrics')!;
    assert.equal(metrics.spec.clusterIP, 'None');
    for (const [k, v] of Object.entries(metrics.spec.selector)) assert.equal(ds.spec.template.metadata.labels[k], v);
    assert.ok(c.ports.some((p: Obj) => p.containerPort === metrics.spec.ports[0].targetPort));
  });
});

describe('the kubelet components', () => {
  it('kubelet-writer turns the writer on and mounts the kubelet files read-write under --host-root', () => {
    const ds = daemonSet(build(join(ROOT, 'overlays', 'kubelet-writer')));
    const c = ds.spec.template.spec.containers[0];
    const { config } = loadConfig(podArgs(c), {});
    assert.equal(config.writeKubeletConfig, true);
    assert.equal(config.restartKubelet, false);
    const dir = join(config.hostRoot, dirname(DEFAULT_CONFIG));
    const m = c.volumeMounts.find((x: Obj) => x.mountPath === dir);
    assert.ok(m && !m.readOnly, `${dir} must be mounted read-write (the change is a rename in that directory)`);
    assert.equal(ds.spec.template.spec.volumes.find((v: Obj) => v.name === m.name).hostPath.path, dirname(DEFAULT_CONFIG));
  });

  it('kubelet-restart adds the host PID namespace and the privilege nsenter needs', () => {
    const ds = daemonSet(build(bothComponentsOverlay()));
    const c = ds.spec.template.spec.containers[0];
    const { config } = loadConfig(podArgs(c), {});
    assert.equal(config.writeKubeletConfig, true);
    assert.equal(config.restartKubelet, true);
    assert.equal(ds.spec.template.spec.hostPID, true);
    assert.equal(c.securityContext.privileged, true);
  });
});

describe('the nodedns ConfigMap', () => {
  const cm = build(ROOT).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'nodedns')!;
  const text: string = cm.data[CONFIG_KEY];

  it('is what --config-map names, and is all comments (the defaults apply)', () => {
    const ds = daemonSet(build(ROOT));
    const { config } = loadConfig(podArgs(ds.spec.template.spec.containers[0]), {});
    assert.equal(config.configMap, `${cm.metadata.namespace}/${cm.metadata.name}`);
    const c = defaults({});
    applyYaml(c, text, 'config.yaml');
    assert.deepEqual(finish(c), finish(defaults({})));
  });

  it('documents the real default of every setting it lists', () => {
    let checked = 0;
    for (const line of text.split('\n')) {
      const m = /^# ([a-z][a-z-]*): (\S+)(\s+#.*)?$/.exec(line);
      if (!m || /example/.test(m[3] ?? '')) continue;
      const [, key, value] = m;
      const opt = OPTION_BY_NAME.get(key);
      assert.ok(opt, `config.yaml documents "${key}", which is not a setting`);
      const c = defaults({});
      applyYaml(c, `${key}: ${value}`, 'config.yaml');
      assert.deepEqual(finish(c), finish(defaults({})), `"${key}: ${value}" is not the default`);
      checked++;
    }
    assert.ok(checked >= 20, `only ${checked} documented defaults found`);
  });

  it('shows examples that nodedns accepts once uncommented', () => {
    const example = text.split('\n').filter((l) => /#\s*example/.test(l))
      .map((l) => l.replace(/^# /, '').replace(/\s+#.*$/, '')).join('\n');
    const c = defaults({});
    applyYaml(c, example, 'config.yaml examples');
    finish(c);
    assert.deepEqual(c.stubDomains.map((s) => s.domain), ['corp.example']);
    assert.deepEqual(Object.keys(c.hosts), ['db.internal']);
    assert.equal(c.cache.zones[0].zone, 'example.com');
    assert.equal(c.upstreams.length, 2);
  });
});

describe('daemonset/Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));

  it('builds on a base named by BASE (node:24-slim), with iptables and nftables, and the staged app only', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    assert.deepEqual(froms, ['FROM ${BASE}']);
    assert.match(text, /^ARG BASE=node:24-slim$/m);
    assert.match(text, /apt-get install -y --no-install-recommends [^\n]*\biptables\b[^\n]*\bnftables\b/);
    // what /app holds is staged by scripts/image/stage.sh (test/image-stage.test.ts runs it)
    assert.match(readFileSync(join(ROOT, '..', 'scripts/image/build.sh'), 'utf8'), /scripts\/image\/stage\.sh \.build\/image\/app/);
    assert.deepEqual(lines.filter((l) => l.startsWith('COPY ') && l.includes('/app')), ['COPY .build/image/app ./']);
    // /usr/local/bin/nodedns carries the V8 flags (src/node-flags.ts): see test/install.test.ts
    assert.equal(lines.at(-2), 'ENTRYPOINT ["/usr/local/bin/nodedns"]');
  });

  it('copies only files that exist, and the entrypoint is what the build produces', () => {
    const repo = resolve(ROOT, '..');
    // dist/ and .build/image/ are what make image builds before it runs the Dockerfile
    const built = (p: string) => p === 'dist' || p.startsWith('.build/image/');
    for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const parts = l.split(/\s+/).slice(1, -1);
      for (const p of parts) assert.ok(built(p) || existsSync(join(repo, p)), `COPY ${p}: no such file in the repository`);
    }
    const tsconfig = JSON.parse(readFileSync(join(repo, 'tsconfig.json'), 'utf8'));
    assert.equal(tsconfig.compilerOptions.outDir, 'dist');
    assert.ok(existsSync(join(repo, 'src', 'cli.ts')));
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    assert.equal(pkg.bin.nodedns, 'dist/cli.js');
    // everything the program requires at run time is a production dependency (@kubernetes/client-node
    // gives types only: src/kube/api.ts says why)
    for (const dep of ['yaml', 'pino', 'netlink', 'dns-packet', 'prom-client']) {
      assert.ok(pkg.dependencies[dep], `${dep} must be in dependencies, not devDependencies`);
    }
  });
});
