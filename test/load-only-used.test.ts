// A module loaded is memory held for the life of the process (issue 16: load only what is
// used). Each check runs in a fresh process: this one has loaded whatever other tests import.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
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
