// Every command the README shows works as written. Blocks that start with "# needs …" (a
// cluster, root on a node, a registry) are left to test/readme.test.ts, which checks their
// command and flag names; every other `sh` block is run here with bash, against a real agent on a
// loopback address standing in for 169.254.20.10 (and free ports for 8080 and 9253), with
// `nodedns` on the PATH meaning `node dist/cli.js` (what `make install` puts there).
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { makeHostRoot, resolvConf, RESOLV_CONF, type HostRoot } from '../helpers/hostroot';
import { codeBlocks, needsSomething, stripComment } from '../helpers/markdown';
import { freeAddress, freePort } from '../helpers/ports';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const LOCAL_IP = '169.254.20.10';

interface Ran { code: number; out: string }

/** The simple commands of a shell line: split at |, ||, && and ; outside quotes. */
function pipeline(cmd: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quote = '';
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i];
    if (quote) { if (c === quote) quote = ''; cur += c; continue; }
    if (c === '"' || c === "'") { quote = c; cur += c; continue; }
    if (c === '|' || c === ';' || (c === '&' && cmd[i + 1] === '&')) {
      if (cmd[i + 1] === c) i++;
      parts.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  parts.push(cur.trim());
  return parts.filter((p) => p !== '');
}

/**
 * What an unmarked block may run here. Anything that could change this machine (node setup,
 * teardown, the kubelet writer, a serving agent) must be marked "# needs root on a node": the
 * tests never touch the root namespace's addresses or firewall. `nodedns run` is allowed only in
 * a transcript whose output is a configuration error, and even then runs with node setup off.
 */
function mayRunHere(cmd: string, expected?: string[]): string | undefined {
  for (const part of pipeline(cmd)) {
    const words = part.replace(/^(\w+=\S*\s+)+/, '').split(/\s+/);
    const [tool, sub] = words;
    if (['dig', 'curl', 'grep', 'printf'].includes(tool)) continue;
    if (tool === 'make') continue; // run as make -n (see sh)
    if (tool === 'nodedns' && ['doctor', 'explain', 'query', 'help', 'version'].includes(sub)) continue;
    if (tool === 'nodedns' && words.includes('--help')) continue;
    if (tool === 'nodedns' && sub === 'run' && expected?.[0]?.startsWith('nodedns: invalid configuration:')) continue;
    return `"${part}" may change this machine: mark its block "# needs root on a node", or show a configuration error`;
  }
  return undefined;
}

describe('every command the README shows works as written', () => {
  let dns: FaultServer;
  let root: HostRoot;
  let agent: AgentProcess;
  let work: string;
  let ip: string;
  let port: number;
  let healthPort: number;
  let metricsPort: number;
  let env: NodeJS.ProcessEnv;
  let runEnv: NodeJS.ProcessEnv;

  before(async () => {
    // The cluster DNS and the upstream: what the README's examples ask for.
    dns = await startFaultServer({
      records: {
        'kubernetes.default.svc.cluster.local': [{ type: 'A', data: '10.96.0.1', ttl: 30 }],
        'api.example.com': [{ type: 'A', data: '192.0.2.10', ttl: 300 }],
      },
      negativeSoa: { zone: 'cluster.local', ttl: 5 },
    });
    root = makeHostRoot({ [RESOLV_CONF]: resolvConf([dns.address]) });
    work = mkdtempSync(join(tmpdir(), 'nodedns-readme-'));
    ip = freeAddress();
    port = process.getuid?.() === 0 ? 53 : await freePort(ip);
    // 8080 and 9253 may be taken on every address (another agent on this machine): the
    // README's ports are mapped to free ones, like its address.
    healthPort = await freePort(ip);
    metricsPort = await freePort(ip);
    const sock = join(work, 'control.sock');
    agent = await startAgent({
      localIps: [ip], port, hostRoot: root.dir,
      args: ['--upstream', `${dns.address}:${dns.port}`, '--cluster-dns', `${dns.address}:${dns.port}`, '--control-socket', sock,
        '--metrics-addr', `${ip}:${metricsPort}`, '--health-addr', `${ip}:${healthPort}`, '--node-name', 'readme-node'],
    });
    // `nodedns` as `make install` puts it on the PATH: the built CLI.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'nodedns'), `#!/bin/sh\nexec node ${CLI} "$@"\n`, { mode: 0o755 });
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NODEDNS_CONTROL_SOCKET: sock, NO_COLOR: '1' };
    // A `nodedns run` example that turned valid would start an agent: without node setup, on
    // loopback, with no HTTP listeners (mayRunHere lets it through only as a config error).
    runEnv = {
      ...env, NODEDNS_SETUP_INTERFACE: 'false', NODEDNS_FIREWALL: 'none', NODEDNS_KUBE_API: 'false', NODEDNS_LOCAL_IP: freeAddress(),
      NODEDNS_PORT: String(await freePort(ip)), NODEDNS_METRICS_ADDR: '', NODEDNS_HEALTH_ADDR: '', NODEDNS_CONTROL_SOCKET: '',
      NODEDNS_UPSTREAM: `${dns.address}:${dns.port}`,
    };
  });

  after(async () => {
    await agent?.stop();
    await dns?.stop();
    root?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The README's node address and ports (metrics: the default 127.0.0.1:9253) become the test agent's; dig gets the port when it is not 53. */
  const here = (cmd: string) => {
    let c = cmd.split(`${LOCAL_IP}:8080`).join(`${ip}:${healthPort}`).split(`${LOCAL_IP}:9253`).join(`${ip}:${metricsPort}`)
      .split('127.0.0.1:9253').join(`${ip}:${metricsPort}`);
    c = c.split(LOCAL_IP).join(ip);
    if (port !== 53) c = c.replace(/\bdig @/g, `dig -p ${port} @`);
    return c;
  };
  // Asynchronous: the fault server answers from this process.
  const sh = (cmd: string) => new Promise<Ran>((res) => {
    const e = /(^|\s)nodedns run\b/.test(cmd) ? runEnv : env;
    // Running the suite or a build from inside the suite would recurse: make is a dry run.
    execFile('bash', ['-c', here(cmd).replace(/(^|&&\s*|;\s*)make /g, `$1make -n -C ${ROOT} `)], { cwd: work, env: e, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });

  const runnable = () => codeBlocks(README).filter((b) => b.lang === 'sh' && !needsSomething(b));

  it('there are runnable examples, and only the blocks marked "# needs …" are left out', () => {
    const all = codeBlocks(README).filter((b) => b.lang === 'sh');
    assert.ok(runnable().length >= 5, `${runnable().length} runnable blocks`);
    for (const b of all.filter(needsSomething)) assert.match(b.lines[0], /^# needs (a |an |root|the )/, `README line ${b.line}`);
  });

  it('transcripts ($ command, then its output) print exactly what the README shows', async () => {
    let checked = 0;
    for (const b of runnable().filter((x) => x.lines.some((l) => l.startsWith('$ ')))) {
      for (let i = 0; i < b.lines.length; i++) {
        if (!b.lines[i].startsWith('$ ')) continue;
        const want: string[] = [];
        for (let j = i + 1; j < b.lines.length && !b.lines[j].startsWith('$ '); j++) want.push(b.lines[j]);
        const unsafe = mayRunHere(b.lines[i].slice(2), want);
        assert.equal(unsafe, undefined, `README line ${b.line}: ${unsafe}`);
        const r = await sh(b.lines[i].slice(2));
        assert.deepEqual(r.out.trimEnd().split('\n').filter((l) => l !== ''), want, `README line ${b.line}: ${b.lines[i]}`);
        checked++;
      }
    }
    assert.ok(checked >= 3, `${checked} transcript commands`);
  });

  it('every other command runs and exits 0 with output', async () => {
    const seen: string[] = [];
    for (const b of runnable().filter((x) => !x.lines.some((l) => l.startsWith('$ ')))) {
      for (const raw of b.lines) {
        const cmd = stripComment(raw);
        if (cmd === '' || cmd.startsWith('#')) continue;
        const unsafe = mayRunHere(cmd);
        assert.equal(unsafe, undefined, `README line ${b.line}: ${unsafe}`);
        const r = await sh(cmd);
        assert.equal(r.code, 0, `README line ${b.line}: ${cmd} (as run: ${here(cmd)}) exited ${r.code}:\n${r.out}`);
        assert.notEqual(r.out.trim(), '', `README line ${b.line}: ${cmd} printed nothing`);
        seen.push(cmd.split(' ').slice(0, 2).join(' '));
      }
    }
    for (const want of ['dig @169.254.20.10', 'nodedns doctor', 'nodedns explain', 'nodedns query', 'curl -s']) {
      assert.ok(seen.includes(want), `${want} is not among the commands run: ${seen.join(', ')}`);
    }
  });

  it('refuses to run a command that could change this machine unless its block is marked', () => {
    for (const cmd of ['nodedns teardown', 'nodedns setup --cluster-dns 10.96.0.10', 'nodedns kubelet set --ip 169.254.20.10', 'nodedns run', 'sudo make run', 'ip addr add 169.254.20.10/32 dev lo', 'dig @1.1.1.1 x && nodedns setup']) {
      assert.notEqual(mayRunHere(cmd), undefined, cmd);
    }
    for (const cmd of ['dig @169.254.20.10 x +short', 'nodedns doctor', 'NODEDNS_CACHE_SIZE=x nodedns version', 'curl -s 169.254.20.10:9253/metrics | grep -E x', "curl -s x | grep -E '^(a|nodedns teardown)'", 'nodedns setup --help']) {
      assert.equal(mayRunHere(cmd), undefined, cmd);
    }
    assert.equal(mayRunHere('nodedns run --port 0', ['nodedns: invalid configuration: --port: …']), undefined);
  });

  it('what doctor and explain print carries no internal shorthand (the README shows none)', async () => {
    const doctor = await sh('nodedns doctor');
    assert.match(doctor.out, /^PASS  listening: /m);
    const go = await sh('nodedns explain kube-health.localhost --resolver go');
    assert.match(go.out, /Go's pure resolver/);
    for (const out of [doctor.out, go.out]) assert.doesNotMatch(out, /\(seeds? \d{3}/);
  });

  it('the examples show what the README says they show', async () => {
    const a = await sh('dig @169.254.20.10 kubernetes.default.svc.cluster.local +short');
    assert.equal(a.out.trim(), '10.96.0.1');
    const nsid = await sh('dig @169.254.20.10 +nsid kubernetes.default.svc.cluster.local');
    assert.match(nsid.out, /NSID: .*\("readme-node"\)/);
    const ex = await sh('nodedns explain api.example.com --namespace shop');
    assert.match(ex.out, /^api\.example\.com: A 192\.0\.2\.10 after 8 queries/);
    assert.match(ex.out, /search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    assert.match(ex.out, /2 queries instead of 8/);
    const q = await sh('nodedns query kubernetes.default.svc.cluster.local');
    assert.match(q.out, /^kubernetes\.default\.svc\.cluster\.local A: A 10\.96\.0\.1/);
    const ready = await sh('curl -s 169.254.20.10:8080/ready');
    assert.equal(ready.out.trim(), 'ready');
  });
});
