// scripts/bench/pair.ts: its options, the ratio over both orders, and a short real run (a saved
// build of nodedns beside the forwarder) that leaves no process behind.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { pairRatio, parsePairArgs, perCpuSecond } from '../scripts/bench/pair';
import { CLK_TCK } from '../scripts/bench/procs';

const REPO = path.resolve(__dirname, '..');

describe('bench pair: options and ratio', () => {
  it('defaults to nodedns against the forwarder on mixed, 3 rounds of 6 s', () => {
    const o = parsePairArgs([]);
    assert.deepEqual(o, { a: { name: 'nodedns', script: undefined, args: [], nodeFlags: [] }, b: { name: 'forwarder', script: undefined, args: [], nodeFlags: [] }, workload: 'mixed', rounds: 3, secs: 6 });
    const x = parsePairArgs(['--b', 'nodedns', '--b-args', '--cache-size 0  --negative-cache-size 0', '--workload', 'miss', '--rounds', '2', '--secs', '1']);
    assert.deepEqual(x.b.args, ['--cache-size', '0', '--negative-cache-size', '0']);
    assert.equal(x.workload, 'miss');
    const f = parsePairArgs(['--a-node-flags', '--no-allocation-site-pretenuring', '--b-node-flags', ' --stack-size=900  --no-maglev']);
    assert.deepEqual([f.a.nodeFlags, f.b.nodeFlags], [['--no-allocation-site-pretenuring'], ['--stack-size=900', '--no-maglev']]);
    assert.deepEqual(parsePairArgs(['--b', 'forwarder-shared', '--b-node-flags', '--no-maglev']).b.nodeFlags, ['--no-maglev']);
  });

  it('refuses what it cannot run, naming the fix', () => {
    assert.throws(() => parsePairArgs(['--a', 'bind']), /--a bind: not a server; one of ceiling, forwarder/);
    assert.throws(() => parsePairArgs(['--workload', 'burst']), /--workload burst: one of hits, mixed, miss, ndots/);
    assert.throws(() => parsePairArgs(['--rounds', '0']), /--rounds must be a whole number from 1 to 100/);
    assert.throws(() => parsePairArgs(['--b-args', '--cache-size 0']), /--b-script and --b-args are for nodedns, not forwarder/);
    assert.throws(() => parsePairArgs(['--a-script', '/nonexistent/cli.js']), /no such file \(save a build with: cp dist\/cli\.js/);
    assert.throws(() => parsePairArgs(['--round', '2']), /unknown option "--round"/);
    assert.throws(() => parsePairArgs(['--b', 'unbound', '--b-node-flags', '--no-maglev']), /--b-node-flags is for nodedns, forwarder or ceiling, not unbound/);
    assert.throws(() => parsePairArgs(['--secs']), /--secs needs a value/);
  });

  it('A over B per CPU-second in each order, and a geometric mean in which a position effect cancels', () => {
    const t = (queries: number, seconds: number) => ({ queries, ticks: seconds * CLK_TCK });
    assert.equal(perCpuSecond(t(1000, 2)), 500);
    // the same pair, the server started second 6 % cheaper in each order: both orders give 1
    const r = pairRatio([{ a: t(1000, 1), b: t(1060, 1) }, { a: t(1060, 1), b: t(1000, 1) }]);
    assert.ok(Math.abs(r.byOrder[0] - 1 / 1.06) < 1e-9 && Math.abs(r.byOrder[1] - 1.06) < 1e-9);
    assert.ok(Math.abs(r.both - 1) < 1e-9);
    assert.ok(Math.abs(pairRatio([{ a: t(900, 1), b: t(1000, 1) }, { a: t(800, 1), b: t(1000, 1) }]).both - Math.sqrt(0.72)) < 1e-9);
  });
});

describe('bench pair: a real run', () => {
  it('runs a saved build beside the forwarder in both orders and stops everything', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pair-test-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const saved = path.join(dir, 'before.js'); // outside the tree: its packages must still resolve
    fs.copyFileSync(path.join(REPO, 'dist', 'cli.js'), saved);
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/pair.ts', '--a-script', saved, '--workload', 'hits', '--rounds', '1', '--secs', '1'],
        { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      const guard = setTimeout(() => child.kill('SIGKILL'), 180_000);
      child.on('exit', (code) => { clearTimeout(guard); resolve({ code, out }); });
    });
    assert.equal(r.code, 0, r.out);
    for (const order of ['A,B', 'B,A']) {
      assert.match(r.out, new RegExp(`${order} round 1: first \\S+`), r.out);
      assert.match(r.out, new RegExp(`${order} round 1: second \\S+`), r.out);
    }
    assert.match(r.out, /A,B round 1: first nodedns \(before\.js\) [\d,]+ queries per CPU-second/);
    assert.match(r.out, /B,A round 1: second nodedns \(before\.js\) [\d,]+ queries per CPU-second/);
    const result = JSON.parse(r.out.trim().split('\n').pop()!) as { orders: { a: { queries: number; ticks: number } }[]; byOrder: number[]; both: number };
    assert.equal(result.orders.length, 2);
    for (const o of result.orders) assert.ok(o.a.queries > 1000 && o.a.ticks > 0, JSON.stringify(o));
    assert.ok(result.both > 0.2 && result.both < 5, `ratio ${result.both}`);
    // nothing of the run is left: no process with its work dir in its command line
    const left = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('nodedns-pair-'); } catch { return false; }
    });
    assert.deepEqual(left, []);
  });
});
