// The README is the operator's first hour: it must stay short, in the order an operator needs,
// free of internal shorthand, with links that resolve, and every command it shows must work as
// written. Blocks that start with "# needs …" (a cluster, root on a node, a registry) are checked
// for command and flag names only; every other `sh` block is run here, against a real agent on a
// loopback address standing in for 169.254.20.10, with `nodedns` meaning `node dist/cli.js`.
import { strict as assert } from 'node:assert';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import { OPTIONS } from '../src/config/options';
import { startAgent, type AgentProcess } from './helpers/agent';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { makeHostRoot, resolvConf, RESOLV_CONF, type HostRoot } from './helpers/hostroot';
import { freeAddress, freePort } from './helpers/ports';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const LOCAL_IP = '169.254.20.10';

/** Pages other branches are writing now: a link to one may point nowhere until they are merged. */
const PAGES_WRITTEN_ELSEWHERE = [
  'docs/node-setup.md', 'docs/benchmark.md', 'docs/security-clients.md', 'docs/security-upstreams.md',
  'docs/migrate-from-node-cache.md', 'docs/image.md', 'docs/answers.md', 'docs/explain.md', 'docs/pods.md',
];
/** make targets other branches are adding now (`make install`: the nodedns command; `make image`). */
const MAKE_TARGETS_ADDED_ELSEWHERE = ['install', 'image'];
/** The docs pages this README's author keeps (the others are checked by their own authors). */
const OWN_DOCS = ['docs/architecture.md', 'docs/cache.md', 'docs/kubernetes.md', 'docs/observability.md', 'docs/troubleshooting.md', 'docs/flags.md'];

interface Block { lang: string; lines: string[]; line: number }

function codeBlocks(md: string): Block[] {
  const out: Block[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(\S*)/.exec(lines[i]);
    if (!open) continue;
    const indent = lines[i].indexOf('```');
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent));
    out.push({ lang: open[1], lines: body, line: i + 1 });
    i = j;
  }
  return out;
}

const needsSomething = (b: Block) => /^# needs /.test(b.lines[0] ?? '');
/** A command line without its trailing comment ("cmd   # why"). */
const stripComment = (l: string) => l.replace(/\s{2,}#.*$/, '').trim();

/** Prose with code blocks taken out, so that inline spans are only the prose's. */
function inlineSpans(md: string): string[] {
  const prose = md.replace(/^\s*```[\s\S]*?^\s*```\s*$/gm, '');
  return [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
}

function helpOf(cmd: string): string {
  const p = spawnSync('node', [CLI, cmd, '--help'], { encoding: 'utf8' });
  return p.status === 0 ? p.stdout : '';
}

function knownFlags(): Set<string> {
  const names = new Set<string>(['config', 'help']);
  for (const o of OPTIONS) { names.add(o.name); if (o.bool) names.add(`no-${o.name}`); }
  for (const cmd of commandNames()) for (const m of helpOf(cmd).matchAll(/--([a-z][a-z0-9-]*)/g)) names.add(m[1]);
  return names;
}

function commandNames(): string[] {
  const p = spawnSync('node', [CLI, 'help'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const section = p.stdout.split('\ncommands:\n')[1].split('\n\n')[0];
  return section.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

function makeTargets(): string[] {
  const mk = readFileSync(join(ROOT, 'Makefile'), 'utf8');
  return [...mk.matchAll(/^([a-z][a-z0-9-]*):/gm)].map((m) => m[1]);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(md: string): Set<string> {
  const out = new Set<string>();
  const prose = md.replace(/^\s*```[\s\S]*?^\s*```\s*$/gm, '');
  for (const m of prose.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return out;
}

function checkLinks(file: string): string[] {
  const md = readFileSync(join(ROOT, file), 'utf8');
  const bad: string[] = [];
  for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/.test(target)) continue;
    const [path, frag] = target.split('#');
    const abs = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
    const rel = abs.slice(ROOT.length + 1);
    if (!existsSync(abs)) {
      if (!PAGES_WRITTEN_ELSEWHERE.includes(rel)) bad.push(`${file}: ${target} (no such file)`);
      continue;
    }
    if (frag && abs.endsWith('.md') && !anchors(readFileSync(abs, 'utf8')).has(frag)) bad.push(`${file}: ${target} (no such heading)`);
  }
  return bad;
}

describe('README structure', () => {
  it('reads in ten minutes: at most about 400 lines', () => {
    assert.ok(README.split('\n').length <= 420, `README has ${README.split('\n').length} lines`);
  });

  it('has a table of contents in the order an operator needs, each entry a section', () => {
    const toc = [...README.matchAll(/^\d+\. \[([^\]]+)\]\(#([^)]+)\)$/gm)].map((m) => ({ title: m[1], anchor: m[2] }));
    const sections = [...README.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    assert.deepEqual(toc.map((t) => t.title), sections, 'the contents list every ## section, in order');
    const want = ['Quick start', 'What nodedns is, and why', 'Install on a cluster', 'Migrate from NodeLocal DNSCache', 'Configure', 'Operate', 'Troubleshoot', 'Security and limits', 'Development'];
    assert.deepEqual(sections.filter((s) => want.includes(s)), want);
    for (const t of toc) assert.ok(anchors(README).has(t.anchor), `contents entry #${t.anchor} has no heading`);
  });

  it('starts with the two commands that work on a fresh machine, and their prerequisites', () => {
    const quick = README.slice(README.indexOf('## Quick start'), README.indexOf('## What nodedns is'));
    const first = codeBlocks(quick)[0];
    assert.deepEqual(first.lines.slice(1).map((l) => stripComment(l)), ['make run', 'make test']);
    for (const word of ['Debian 12', 'root', '`make`', 'Node.js 24', 'npm registry']) assert.ok(quick.includes(word), word);
  });

  it('uses no internal shorthand (say what is meant instead)', () => {
    for (const file of ['README.md', ...OWN_DOCS]) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const re of [/\bseeds? ?\d{3}\b/i, /\bseed stor/i, /\bissue \d+\b/i, /\bstop \d+\b/i]) {
        assert.doesNotMatch(text, re, `${file}: ${re}`);
      }
    }
  });

  it('links only to files and headings that exist', () => {
    assert.deepEqual(['README.md', ...OWN_DOCS].flatMap(checkLinks), []);
  });

  it('links the full flag reference, and names no flag that does not exist', () => {
    assert.ok(README.includes('](docs/flags.md)'));
    const known = knownFlags();
    const named = new Set<string>();
    for (const span of inlineSpans(README)) for (const m of span.matchAll(/(?<![\w-])--(?:\[no-\])?([a-z][a-z0-9-]*)/g)) if (span.startsWith('--') || span.startsWith('nodedns ')) named.add(m[1]);
    for (const b of codeBlocks(README).filter((x) => x.lang === 'sh')) {
      for (const l of b.lines) {
        const at = stripComment(l).search(/(^|\s|\$ )nodedns /);
        if (at < 0) continue;
        for (const m of stripComment(l).slice(at).matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)) named.add(m[1]);
      }
    }
    assert.deepEqual([...named].filter((f) => !known.has(f)), []);
    for (const f of ['local-ip', 'cluster-dns', 'upstream', 'config']) assert.ok(named.has(f), f);
  });

  it('names only nodedns commands and make targets that exist', () => {
    const commands = commandNames();
    const targets = [...makeTargets(), ...MAKE_TARGETS_ADDED_ELSEWHERE];
    const lines = [...inlineSpans(README), ...codeBlocks(README).filter((b) => b.lang === 'sh').flatMap((b) => b.lines.map(stripComment))];
    const bad: string[] = [];
    for (const l of lines) {
      for (const m of l.matchAll(/(?:^|\s|\$ )nodedns ([A-Za-z][\w-]*)/g)) if (m[1] !== 'COMMAND' && !commands.includes(m[1])) bad.push(`nodedns ${m[1]}`);
      for (const m of l.matchAll(/(?:^|\s|\$ )make ([a-z][\w-]*)/g)) if (!targets.includes(m[1])) bad.push(`make ${m[1]}`);
    }
    assert.deepEqual(bad, []);
    for (const c of ['doctor', 'explain', 'query', 'teardown']) assert.ok(lines.some((l) => l.includes(`nodedns ${c}`)), c);
  });

  it('its example configuration file is valid', () => {
    const block = codeBlocks(README).find((b) => b.lang === 'yaml' && b.lines[0].startsWith('# /etc/nodedns.yaml'));
    assert.ok(block, 'the example --config file');
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-readme-'));
    try {
      writeFileSync(join(dir, 'nodedns.yaml'), block.lines.join('\n'));
      const { config } = loadConfig(['--config', join(dir, 'nodedns.yaml')], {});
      assert.deepEqual(config.localIps, ['169.254.20.10', 'fd00::a']);
      assert.deepEqual(config.stubDomains.map((s) => s.domain), ['corp.example']);
      assert.equal(config.cache.zones.length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('its image overlay names the image (kubectl kustomize)', (t) => {
    if (spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status !== 0) {
      t.skip('kubectl is not installed: the overlay was not built');
      return;
    }
    const block = codeBlocks(README).find((b) => b.lang === 'yaml' && b.lines[0] === '# my-nodedns/kustomization.yaml');
    assert.ok(block, 'the overlay example');
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-readme-'));
    try {
      mkdirSync(join(dir, 'my-nodedns'));
      symlinkSync(join(ROOT, 'daemonset'), join(dir, 'daemonset'));
      writeFileSync(join(dir, 'my-nodedns', 'kustomization.yaml'), block.lines.join('\n'));
      const p = spawnSync('kubectl', ['kustomize', join(dir, 'my-nodedns')], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(p.status, 0, p.stderr);
      const images = [...p.stdout.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1]);
      assert.deepEqual(images, ['registry.example.com/platform/nodedns:0.1.0']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Ran { code: number; out: string }

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
  });

  after(async () => {
    await agent?.stop();
    await dns?.stop();
    root?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The README's node address and ports become the test agent's; dig gets the port when it is not 53. */
  const here = (cmd: string) => {
    let c = cmd.split(`${LOCAL_IP}:8080`).join(`${ip}:${healthPort}`).split(`${LOCAL_IP}:9253`).join(`${ip}:${metricsPort}`);
    c = c.split(LOCAL_IP).join(ip);
    if (port !== 53) c = c.replace(/\bdig @/g, `dig -p ${port} @`);
    return c;
  };
  // Asynchronous: the fault server answers from this process.
  const sh = (cmd: string) => new Promise<Ran>((res) => {
    execFile('bash', ['-c', here(cmd)], { cwd: work, env, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
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
        // Running the suite or a build from inside the suite would recurse: make is dry-run.
        const r = await sh(cmd.startsWith('make ') ? cmd.replace(/^make /, 'make -n -C ' + ROOT + ' ') : cmd);
        assert.equal(r.code, 0, `README line ${b.line}: ${cmd} (as run: ${here(cmd)}) exited ${r.code}:\n${r.out}`);
        assert.notEqual(r.out.trim(), '', `README line ${b.line}: ${cmd} printed nothing`);
        seen.push(cmd.split(' ').slice(0, 2).join(' '));
      }
    }
    for (const want of ['dig @169.254.20.10', 'nodedns doctor', 'nodedns explain', 'nodedns query', 'curl -s']) {
      assert.ok(seen.includes(want), `${want} is not among the commands run: ${seen.join(', ')}`);
    }
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
