// scripts/bench/heap-sample.cjs and heap-sites.ts: a real process profiled from start to exit,
// its allocations (freed ones too) charged to the function that made them and to the nearest
// frame of its own script.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { allocationSites, type HeapProfile } from '../scripts/bench/heap-sites';

const PRELOAD = path.resolve(__dirname, '..', 'scripts', 'bench', 'heap-sample.cjs');

describe('bench heap sites', () => {
  it('charges Node\'s allocations to the nearest own frame, and divides by the queries', () => {
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });
    const p: HeapProfile = {
      head: {
        id: 1, callFrame: frame('(root)', ''), selfSize: 600, children: [{
          id: 2, callFrame: frame('miss', 'file:///x/dist/cli.js', 9), selfSize: 100, children: [
            { id: 3, callFrame: frame('nextTick', 'node:internal/process/task_queues'), selfSize: 300 },
          ],
        }],
      },
    };
    const r = allocationSites(p, 10);
    assert.equal(r.bytesPerQuery, 100);
    assert.deepEqual(r.self, [['(root) (native):1:1', 60], ['nextTick task_queues:1:1', 30], ['miss cli.js:10:1', 10]]);
    assert.deepEqual(r.own, [['miss cli.js:10:1', 40]]);
  });

  it('profiles a real process, garbage included, and names the function that allocated it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodedns-heap-'));
    try {
      const script = path.join(dir, 'cli.js');
      // 20,000 objects, none kept: only a profile of freed objects sees them.
      fs.writeFileSync(script, 'function allocates(n) { let last; for (let i = 0; i < n; i++) last = { a: i, b: i, c: i, d: i }; return last; }\n' +
        'allocates(20000);\n');
      const out = execFileSync(process.execPath, ['--require', PRELOAD, script], {
        env: { ...process.env, NODEDNS_HEAP_SAMPLE_DIR: dir, NODE_OPTIONS: '' }, encoding: 'utf8', timeout: 60_000,
      });
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.heapprofile'));
      assert.equal(files.length, 1, `one profile written (saw ${files.join(', ') || 'none'}; output: ${out})`);
      const r = allocationSites(JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')) as HeapProfile, 20000);
      const mine = r.self.find(([k]) => k.startsWith('allocates cli.js:1:'));
      assert.ok(mine, `a site in allocates() (top sites: ${JSON.stringify(r.self.slice(0, 5))})`);
      // Each object is at least 48 bytes; sampling every 256 bytes on average leaves wide room either way.
      assert.ok(mine[1] > 20 && mine[1] < 400, `allocates() at ${mine[1]} bytes an object`);
      assert.equal(r.own[0][0], mine[0]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
