// The README is the operator's first hour: it must stay short, in the order an operator needs,
// free of internal shorthand, with links that resolve, and name only commands, flags and make
// targets that exist. test/e2e/readme-commands.test.ts runs its commands.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import { OPTIONS } from '../src/config/options';
import { anchors, codeBlocks, inlineSpans, stripComment } from './helpers/markdown';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The docs pages this README's author keeps (the others are checked by their own authors). */
const OWN_DOCS = ['docs/architecture.md', 'docs/cache.md', 'docs/kubernetes.md', 'docs/observability.md', 'docs/troubleshooting.md', 'docs/flags.md'];

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

function checkLinks(file: string): string[] {
  const md = readFileSync(join(ROOT, file), 'utf8');
  const bad: string[] = [];
  for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/.test(target)) continue;
    const [path, frag] = target.split('#');
    const abs = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
    if (!existsSync(abs)) {
      bad.push(`${file}: ${target} (no such file)`);
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
    const targets = makeTargets();
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
});
