// A module loaded is memory held for the life of the process (issue 16: load only what is
// used). Each check runs in a fresh process: this one has loaded whatever other tests import.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

function loaded(script: string): { builtins: string[]; files: string[] } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `${script};
    console.log(JSON.stringify({ builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)), files: Object.keys(require.cache) }))`],
  { cwd: join(__dirname, '..'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { builtins: string[]; files: string[] };
}

it('node setup loads route netlink and raw netlink, not the package index with nl80211, WireGuard and generic netlink', () => {
  const { files } = loaded("require('./src/node/interface'); require('./src/node/firewall/generation')");
  const netlink = files.filter((f) => f.includes('/node_modules/netlink/')).map((f) => f.replace(/.*\/node_modules\/netlink\//, ''));
  assert.ok(netlink.includes('dist/rt/rt.js') && netlink.includes('dist/netlink.js'), netlink.join(' '));
  for (const f of netlink) assert.doesNotMatch(f, /^dist\/(index|nl80211\/|wg\/|genl\/)/, netlink.join(' '));
});

it('node:zlib is loaded for a cache file only: not with the cache alone, and once a file is read', () => {
  const load = "const { AnswerCache } = require('./src/cache/answer-cache'); require('./src/cache/persist');" +
    "const { defaults } = require('./src/config/load'); const { Stats } = require('./src/observe/stats');" +
    'const cache = new AnswerCache(defaults().cache, new Stats())';
  assert.ok(!loaded(load).builtins.includes('zlib'));
  // a file with one line: its checksum is the first thing read
  const read = loaded(`${load}; const { loadCache } = require('./src/cache/persist'); const fs = require('node:fs');
    const d = fs.mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'nodedns-lazy-'));
    try { fs.writeFileSync(d + '/cache', 'nodedns-cache/2\\n00000000 {}\\n');
      loadCache(cache, d + '/cache', Date.now(), require('pino')({ level: 'silent' }), () => ({ successCap: 30, denialCap: 30, servfailTtl: 5 }));
    } finally { fs.rmSync(d, { recursive: true }) }`);
  assert.ok(read.builtins.includes('zlib'));
});

it('dist/cli.js is one script: it loads no other module of the tree, and only netlink from node_modules', () => {
  // make build bundles it (Makefile): the ~240 modules tsc writes cost about 2 MiB more idle
  // RSS, each with its own wrapper, source text and resolution. netlink stays a package of its
  // own: it loads its native binary from its directory.
  const root = join(__dirname, '..');
  const cli = join(root, 'dist', 'cli.js');
  const script = `process.argv = [process.argv[0], ${JSON.stringify(cli)}, 'setup', '--dry-run'];
    process.on('exit', () => require('node:fs').writeSync(2, '\\nLOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));
    require(${JSON.stringify(cli)})`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line, `no module list: status ${r.status}, stderr:\n${r.stderr}`);
  assert.equal(r.status, 0, `nodedns setup --dry-run: ${r.stderr}`);
  const files = JSON.parse(line.slice(7)) as string[];
  const ours = files.filter((f) => !f.includes('/node_modules/'));
  assert.deepEqual(ours, [cli], `loaded from the tree: ${ours.join(' ')}`);
  const packages = files.filter((f) => f.includes('/node_modules/')).map((f) => f.replace(/.*\/node_modules\//, ''));
  // netlink and node-gyp-build, its loader of the prebuilt binary
  for (const p of packages) assert.match(p, /^(netlink|node-gyp-build)\//, `loaded from node_modules: ${packages.join(' ')}`);
  assert.ok(packages.includes('netlink/dist/rt/rt.js'), packages.join(' '));
  // --enable-source-maps maps a stack trace back to src/ (docs/image.md)
  const map = JSON.parse(readFileSync(`${cli}.map`, 'utf8')) as { sources: string[] };
  assert.ok(map.sources.includes('../src/serve/handler.ts'), map.sources.slice(0, 5).join(' '));
});
