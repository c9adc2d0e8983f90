// The image, built here and run as the DaemonSet runs it: read-only root, only NET_ADMIN,
// NET_RAW and NET_BIND_SERVICE, the host network of a node namespace this test creates.
// It serves a pod namespace, installs its rules, answers health, readiness and metrics,
// `nodedns doctor` works inside it, and a stop leaves the fallback to the cluster DNS in place.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/agent';
import { execCmd, NetnsLab, nodeTopology, startClusterDns, TOPO, type NodeTopology } from '../helpers/netns';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

// The first build makes the Debian base (about 2-3 minutes, 300 MB of downloads); later
// builds reuse it and take well under a minute.
const BUILD_MS = 20 * 60_000;
// podman's defaults for open files and processes are above what root may raise to on this
// kind of VM, and crun 1.8.1 refuses its cgroup layout: runc, and limits it can set.
const RUN_FLAGS = ['--runtime', 'runc', '--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'];

const lab = new NetnsLab();
const name = `nodedns-e2e-${lab.id}`;
let t: NodeTopology;
let image: string;
let dir: string;

async function podman(args: string[], timeoutMs = PATIENCE_MS) {
  const r = await execCmd('podman', args, { timeoutMs });
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.code}):\n${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}
const logs = async () => { const r = await execCmd('podman', ['logs', name]); return r.stdout + r.stderr; };
const digPod = async (name: string, type = 'A') =>
  (await t.pod.exec('dig', ['+short', '+time=2', '+tries=1', `@${TOPO.localIp}`, name, type])).stdout.trim();
const curlNode = (url: string) => t.node.exec('curl', ['-s', '-m', '5', '-w', '\n%{http_code}', url]);

describe('the image, run as the DaemonSet runs it', () => {
  before(async () => {
    const built = await execCmd(join(REPO_ROOT, 'scripts/image/build.sh'), [], { timeoutMs: BUILD_MS });
    assert.equal(built.code, 0, `scripts/image/build.sh (make image) failed; make test-deps installs podman, runc and mmdebstrap:\n${built.stderr.slice(-3000)}`);
    image = built.stdout.trim().split('\n').at(-1)!;
    t = await nodeTopology(lab, { routableServiceIp: true });
    startClusterDns(t.dns, [TOPO.serviceIp], { records: { 'kubernetes.default.svc.cluster.local': '10.96.0.1' }, who: 'clusterdns' });
    await waitUntil('the cluster DNS', async () => ((await t.pod.exec('dig', ['+short', '+time=1', '+tries=1', `@${TOPO.serviceIp}`, 'who.test', 'TXT'])).stdout.includes('clusterdns') ? true : undefined), PATIENCE_MS, 100);
    dir = mkdtempSync(join(tmpdir(), 'nodedns-image-'));
    writeFileSync(join(dir, 'resolv.conf'), `nameserver ${TOPO.serviceIp}\n`);
    writeFileSync(join(dir, 'xtables.lock'), '');
    await podman(['run', '-d', '--name', name, ...RUN_FLAGS,
      '--network', `ns:/run/netns/${t.node.name}`,
      '--read-only', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN,NET_RAW,NET_BIND_SERVICE', '--security-opt', 'no-new-privileges',
      '--tmpfs', '/run/nodedns', '--tmpfs', '/tmp',
      '-v', `${join(dir, 'resolv.conf')}:/host/etc/resolv.conf:ro`, '-v', `${join(dir, 'xtables.lock')}:/run/xtables.lock`,
      // what the kube-dns-upstream Service puts in every pod's environment
      '-e', `KUBE_DNS_UPSTREAM_SERVICE_HOST=${TOPO.serviceIp}`, '-e', 'NODE_NAME=image-test',
      image, 'run', `--local-ip=${TOPO.localIp}`, '--host-root=/host', '--metrics-addr=:9253']);
  });
  after(async () => {
    await execCmd('podman', ['rm', '-f', '-t', '0', name]);
    await lab.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the pod namespace with its rules in place, and answers health, readiness and metrics', async () => {
    await waitUntil('the container to log "NOTRACK rules in place"', async () => ((await logs()).includes('NOTRACK rules in place') ? true : undefined), PATIENCE_MS, 200)
      .catch(async (e) => { throw new Error(`${(e as Error).message}\n${(await logs()).slice(-3000)}`); });
    assert.equal(await digPod('kubernetes.default.svc.cluster.local'), '10.96.0.1');
    const ruleset = await t.node.ok('nft', ['list', 'table', 'inet', 'nodedns']);
    assert.match(ruleset, /chain notrack-prerouting \{[^}]*notrack comment/, ruleset);
    assert.match(ruleset, /dnat ip to 10\.96\.0\.10/);
    const health = await curlNode(`http://${TOPO.localIp}:8080/health`);
    assert.match(health.stdout, /\n200$/, health.stdout);
    const ready = await curlNode(`http://${TOPO.localIp}:8080/ready`);
    assert.match(ready.stdout, /^ready\n+200$/, ready.stdout);
    const metrics = await curlNode('http://127.0.0.1:9253/metrics');
    assert.match(metrics.stdout, /^nodedns_/m);
    assert.match(metrics.stdout, /\n200$/);
  });

  it('runs `nodedns doctor` inside the container, against the running agent', async () => {
    const r = await execCmd('podman', ['exec', name, 'nodedns', 'doctor']);
    assert.match(r.stdout, /config: the running agent/, r.stdout + r.stderr);
    assert.match(r.stdout, /PASS +listening:/);
    assert.match(r.stdout, /PASS +node-setup:/);
    assert.match(r.stdout, /PASS +readiness:/);
    assert.ok(r.code === 0 || r.code === 1, `doctor exit code ${r.code} (0 all pass, 1 some check fails): ${r.stderr}`);
  });

  it('the image has /usr/local/bin/nodedns, with the V8 flags', async () => {
    const wrapper = await podman(['exec', name, 'cat', '/usr/local/bin/nodedns']);
    assert.match(wrapper, /exec '\/usr\/local\/bin\/node' --max-semi-space-size=2 --no-maglev --expose-gc '\/app\/dist\/cli\.js' "\$@"/);
  });

  it('a stop leaves the fallback in place: the pod still resolves, through the cluster DNS', async () => {
    await podman(['stop', '-t', '30', name]);
    assert.match(await logs(), /stopped; the fallback rules stay in place/);
    assert.equal(await digPod('who.test', 'TXT'), '"clusterdns"');
    const ruleset = await t.node.ok('nft', ['list', 'table', 'inet', 'nodedns']);
    assert.match(ruleset, /chain notrack-prerouting \{\s*type [^\n]*\n\s*\}/, `NOTRACK is gone, so the DNAT applies:\n${ruleset}`);
    assert.match(ruleset, /dnat ip to 10\.96\.0\.10/);
  });
});
