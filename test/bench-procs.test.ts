// The benchmark stops everything it starts: children, their children, and what a killed run left.
// Also the /proc readings behind the RSS and CPU columns.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  CLK_TCK, cpuBusyTicks, cpuStealTicks, cpuTicksOf, memoryOf, outputOf, processTree, Processes, reapOrphans, REGISTRY_DIR, statCpuTicks,
  statReapedChildTicks, statusKiB,
} from '../scripts/bench/procs';
import { NetnsLab, netnsUnavailable } from './helpers/netns';
import { PATIENCE_MS } from './helpers/process';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = PATIENCE_MS): Promise<void> {
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

  it('reads cutime+cstime: the CPU of the children a process reaped', () => {
    const stat = '1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 40 2 20 0 1 0 5 1000 200';
    assert.equal(statReapedChildTicks(stat), 42);
  });

  it('counts in a process tree\'s CPU the children that ran and were reaped between two samples, and not their memory', async (t) => {
    // sh waits 0.5 s, runs a busy child (a second of CPU) and reaps it: the CPU is the child's,
    // sh's own utime stays near 0, so only cutime can account for it. The child burns a second
    // of its own CPU time, not of wall time: on a busy machine a wall-clock second is less CPU.
    const sh = spawn('sh', ['-c', `sleep 0.5; ${process.execPath} -e 'while (process.cpuUsage().user < 1e6);'; sleep 60`], { stdio: 'ignore' });
    t.after(() => sh.kill('SIGKILL'));
    await waitFor(() => processTree(sh.pid!).length >= 2); // the first sleep
    const before = cpuTicksOf(sh.pid!);
    const exe = (pid: number) => fs.readlinkSync(`/proc/${pid}/exe`);
    await waitFor(() => processTree(sh.pid!).some((p) => { try { return exe(p) === fs.realpathSync(process.execPath); } catch { return false; } }));
    const withChild = memoryOf(sh.pid!);
    const shOnly = memoryOf(sh.pid!, { sameExecutable: true });
    assert.equal(shOnly.processes, 1, 'only sh runs sh');
    assert.ok(withChild.processes >= 2 && withChild.rssKiB > shOnly.rssKiB, `${JSON.stringify(withChild)} vs ${JSON.stringify(shOnly)}`);
    await waitFor(() => statReapedChildTicks(fs.readFileSync(`/proc/${sh.pid}/stat`, 'utf8')) > 0, PATIENCE_MS);
    const ticks = cpuTicksOf(sh.pid!) - before;
    assert.ok(statCpuTicks(fs.readFileSync(`/proc/${sh.pid}/stat`, 'utf8')) < 10, 'sh itself hardly ran');
    assert.ok(ticks >= 0.8 * CLK_TCK, `the child's second of CPU is counted: ${ticks} ticks`);
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

  it('deletes the network namespaces it created, with what runs in them: at the end, and after a SIGKILL by the next run', { skip: netnsUnavailable() }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-procs-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const exists = (name: string) => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.split(' ')[0] === name);
    const procs = new Processes(dir);
    const lab = new NetnsLab((name) => procs.adoptNetns(name));
    t.after(() => lab.cleanup());
    const ns = await lab.add('procs');
    const inside = procs.spawn('inside', 'ip', ['netns', 'exec', ns.name, 'sleep', '60']);
    const registry = path.join(REGISTRY_DIR, `${process.pid}.txt`);
    assert.ok(fs.readFileSync(registry, 'utf8').includes(`netns\t${JSON.stringify(ns.name)}`));
    procs.killAllSync();
    assert.equal(exists(ns.name), false, 'deleted at the end');
    await waitFor(() => !alive(inside.pid) || fs.readFileSync(`/proc/${inside.pid}/stat`, 'utf8').includes(') Z'));

    // a run killed with SIGKILL: its registry names a namespace with a sleep inside
    const left = await lab.add('left');
    const sleeper = spawn('ip', ['netns', 'exec', left.name, 'sleep', '60'], { detached: true, stdio: 'ignore' });
    t.after(() => { try { process.kill(sleeper.pid!, 'SIGKILL'); } catch { /* gone */ } });
    await waitFor(() => spawnSync('ip', ['netns', 'pids', left.name], { encoding: 'utf8' }).stdout.trim() !== '');
    const deadOwner = spawn('true');
    await new Promise((r) => deadOwner.on('exit', r));
    fs.writeFileSync(path.join(REGISTRY_DIR, `${deadOwner.pid}.txt`), `netns\t${JSON.stringify(left.name)}\n` +
      // never a namespace this benchmark does not name its own way
      `netns\t${JSON.stringify('not-ours')}\n`);
    const reaped = reapOrphans();
    assert.ok(reaped.includes(`network namespace ${left.name}`), reaped.join('; '));
    assert.equal(reaped.length, 1, reaped.join('; '));
    assert.equal(exists(left.name), false);
    await waitFor(() => !alive(sleeper.pid!) || fs.readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8').includes(') Z'));
  });
});

describe('bench: a short command\'s output', () => {
  it('is read to its end, also when the command exits before its output arrives', async () => {
    // the shell exits at once; what it started writes 200 ms later, on the same pipe
    const r = await outputOf('sh', ['-c', '(sleep 0.2; echo late; echo err >&2) & echo early; exit 0']);
    assert.equal(r.code, 0);
    assert.deepEqual(r.out.split('\n').filter(Boolean).sort(), ['early', 'err', 'late']);
    assert.equal((await outputOf('sh', ['-c', 'echo no; exit 3'])).code, 3);
    await assert.rejects(outputOf('/nonexistent/dnsperf', []), /ENOENT/);
  });
});
