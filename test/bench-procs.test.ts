// The benchmark stops everything it starts: children, their children, and what a killed run left.
// Also the /proc readings behind the RSS and CPU columns.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  cpuBusyTicks, cpuStealTicks, memoryOf, processTree, Processes, reapOrphans, REGISTRY_DIR, statCpuTicks, statusKiB,
} from '../scripts/bench/procs';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('bench /proc readings', () => {
  it('reads VmRSS and VmHWM', () => {
    const status = 'Name:\tnode\nVmHWM:\t   51234 kB\nVmRSS:\t   49876 kB\n';
    assert.equal(statusKiB(status, 'VmRSS'), 49876);
    assert.equal(statusKiB(status, 'VmHWM'), 51234);
    assert.throws(() => statusKiB('Name: x\n', 'VmRSS'), /no VmRSS line/);
    const mine = memoryOf(process.pid);
    assert.ok(mine.rssKiB > 10_000 && mine.hwmKiB >= mine.rssKiB, JSON.stringify(mine));
  });

  it('reads utime+stime even when the command name has spaces and parentheses', () => {
    const stat = '1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 1000 200';
    assert.equal(statCpuTicks(stat), 325);
  });

  it('reads the steal ticks of one CPU (what the hypervisor took from it)', () => {
    const stat = 'cpu  10 0 10 100 5 0 0 9 0 0\ncpu0 7 1 3 50 4 2 1 6 0 0\ncpu1 3 0 7 50 1 0 0 3 0 0\n';
    assert.equal(cpuStealTicks(stat, 0), 6);
    assert.equal(cpuStealTicks(stat, 1), 3);
    assert.throws(() => cpuStealTicks(stat, 2), /no cpu2 line/);
  });

  it('reads busy ticks of one CPU, without idle and iowait', () => {
    const stat = 'cpu  10 0 10 100 5 0 0 0 0 0\ncpu0 7 1 3 50 4 2 1 1 0 0\ncpu1 3 0 7 50 1 0 0 0 0 0\n';
    assert.equal(cpuBusyTicks(stat, 0), 7 + 1 + 3 + 2 + 1 + 1);
    assert.equal(cpuBusyTicks(stat, 1), 10);
    assert.throws(() => cpuBusyTicks(stat, 5), /no cpu5 line/);
  });
});

describe('bench process control', () => {
  it('stops a child and the processes it forked, and clears its registry', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-procs-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const procs = new Processes(dir);
    t.after(() => procs.killAllSync());
    const p = procs.spawn('forker', 'sh', ['-c', 'sleep 60 & sleep 60 & wait']);
    await waitFor(() => processTree(p.pid).length >= 3);
    const tree = processTree(p.pid);
    const registry = path.join(REGISTRY_DIR, `${process.pid}.txt`);
    assert.match(fs.readFileSync(registry, 'utf8'), new RegExp(`^${p.pid}\\t`, 'm'));
    await procs.stopAll();
    await waitFor(() => tree.every((pid) => !alive(pid)));
    assert.equal(procs.running().length, 0);
    assert.equal(fs.existsSync(registry), false);
  });

  it('escalates to SIGKILL for a child that ignores SIGTERM', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-procs-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const procs = new Processes(dir);
    t.after(() => procs.killAllSync());
    const p = procs.spawn('stubborn', 'sh', ['-c', 'trap "" TERM; while :; do sleep 0.1; done']);
    await sleep(200);
    const t0 = Date.now();
    await procs.stop(p, 300);
    assert.ok(!alive(p.pid));
    assert.ok(Date.now() - t0 < 3000);
  });

  it('kills what a run killed with SIGKILL left behind, and nothing else', async (t) => {
    // A stand-in for a dead benchmark: it records one child, then dies without cleaning up.
    const orphan = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const bystander = spawn('sleep', ['61'], { detached: true, stdio: 'ignore' });
    t.after(() => { for (const c of [orphan, bystander]) try { process.kill(c.pid!, 'SIGKILL'); } catch { /* gone */ } });
    const deadOwner = spawn('true');
    await new Promise((r) => deadOwner.on('exit', r));
    await waitFor(() => fs.existsSync(`/proc/${orphan.pid}/cmdline`) && fs.readFileSync(`/proc/${orphan.pid}/cmdline`, 'utf8').startsWith('sleep'));
    fs.mkdirSync(REGISTRY_DIR, { recursive: true });
    const cmdline = (pid: number) => JSON.stringify(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    fs.writeFileSync(path.join(REGISTRY_DIR, `${deadOwner.pid}.txt`),
      `${orphan.pid}\t${cmdline(orphan.pid!)}\n` +
      // a recorded pid whose command line no longer matches (pid reused): must be left alone
      `${bystander.pid}\t${JSON.stringify('knotd\0-c\0/gone/knot.conf\0')}\n`);
    const reaped = reapOrphans();
    assert.equal(reaped.length, 1);
    assert.match(reaped[0], new RegExp(`^${orphan.pid} sleep 60`));
    await waitFor(() => !alive(orphan.pid!) || fs.readFileSync(`/proc/${orphan.pid}/stat`, 'utf8').includes(') Z'));
    assert.ok(alive(bystander.pid!), 'an unrelated process with a recorded pid is not touched');
    assert.equal(fs.existsSync(path.join(REGISTRY_DIR, `${deadOwner.pid}.txt`)), false);
  });
});
