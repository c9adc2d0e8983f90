// Every process the benchmark starts goes through here, so that every one of them is
// stopped: on a normal end, on an error, on Ctrl-C or SIGTERM. Each child leads its own
// process group (a worker it forks goes down with it), and its pid is written to a
// registry file so that a run killed with SIGKILL is cleaned up by the next run. So are
// the network namespaces it creates: deleted, with everything running inside, at the same
// moments.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REGISTRY_DIR = '/tmp/nodedns-bench-registry';

/**
 * Runs a short command (a dnsperf run that stops itself) to its end: its exit code and its
 * stdout and stderr. Resolved on 'close', when the output is all read, not on 'exit', which can
 * come first: pair.ts once read an empty dnsperf report that way.
 */
export function outputOf(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
  });
}
/** Clock ticks per second of /proc CPU times. */
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  exitCode(): number | null | undefined; // undefined while running
  logFile: string;
}

function readCmdline(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills what a dead earlier run left behind (only pids whose command line is still the recorded one). */
export function reapOrphans(): string[] {
  const reaped: string[] = [];
  let files: string[] = [];
  try {
    files = fs.readdirSync(REGISTRY_DIR);
  } catch {
    return reaped;
  }
  for (const f of files) {
    const owner = Number(f.replace(/\.txt$/, ''));
    if (!Number.isInteger(owner) || (owner !== process.pid && alive(owner))) continue;
    const file = path.join(REGISTRY_DIR, f);
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      if (line.startsWith(NETNS_LINE)) {
        const name = JSON.parse(line.slice(tab + 1)) as string;
        if (name.startsWith('ndt-') && deleteNetnsSync(name)) reaped.push(`network namespace ${name}`);
        continue;
      }
      const pid = Number(line.slice(0, tab));
      const cmdline = line.slice(tab + 1);
      if (readCmdline(pid) === JSON.parse(cmdline)) {
        try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
        reaped.push(`${pid} ${JSON.parse(cmdline).split('\0').join(' ').trim()}`);
      }
    }
    fs.rmSync(file, { force: true });
  }
  return reaped;
}

const NETNS_LINE = 'netns\t';

/**
 * Kills every process inside network namespace `name`, then deletes it. Only ever given a
 * namespace this benchmark created (never the machine's own). False when there was none.
 */
export function deleteNetnsSync(name: string): boolean {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  if (pids.status !== 0) return false;
  for (const pid of pids.stdout.split('\n').map(Number).filter((p) => p > 0)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  return spawnSync('ip', ['netns', 'del', name]).status === 0;
}

export class Processes {
  private procs = new Set<Proc>();
  private namespaces = new Set<string>();
  private registry: string;

  constructor(private logDir: string) {
    fs.mkdirSync(REGISTRY_DIR, { recursive: true });
    this.registry = path.join(REGISTRY_DIR, `${process.pid}.txt`);
  }

  /** Starts `cmd args` in its own process group, output to logDir/<name>.log (or stdoutFile). */
  spawn(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdoutFile?: string; cwd?: string } = {}): Proc {
    const logFile = path.join(this.logDir, `${name}.log`);
    const errFd = fs.openSync(logFile, 'a');
    const outFd = opts.stdoutFile ? fs.openSync(opts.stdoutFile, 'w') : errFd;
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', outFd, errFd], env: opts.env ?? process.env, cwd: opts.cwd });
    fs.closeSync(errFd);
    if (outFd !== errFd) fs.closeSync(outFd);
    if (child.pid === undefined) throw new Error(`could not start ${cmd}: is it installed? (see ${logFile})`);
    let code: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (c, sig) => { code = c ?? (sig ? -1 : null); resolve(code); });
      child.once('error', () => { code = -1; resolve(-1); });
    });
    const proc: Proc = { name, pid: child.pid, child, exited, exitCode: () => code, logFile };
    this.procs.add(proc);
    void exited.then(() => { this.procs.delete(proc); this.writeRegistry(); });
    // Recorded once the child has exec'd, so the command line is the real one.
    setTimeout(() => this.writeRegistry(), 50).unref();
    this.writeRegistry();
    return proc;
  }

  /** A network namespace about to be created: deleted by stopAll, killAllSync or, after a SIGKILL, the next run. */
  adoptNetns(name: string): void {
    this.namespaces.add(name);
    this.writeRegistry();
  }

  /** Deletes the namespace now (and whatever still runs in it). */
  releaseNetns(name: string): void {
    deleteNetnsSync(name);
    this.namespaces.delete(name);
    this.writeRegistry();
  }

  private writeRegistry(): void {
    const lines = [...this.procs].map((p) => `${p.pid}\t${JSON.stringify(readCmdline(p.pid) ?? '')}`)
      .concat([...this.namespaces].map((n) => `${NETNS_LINE}${JSON.stringify(n)}`));
    if (lines.length === 0) fs.rmSync(this.registry, { force: true });
    else fs.writeFileSync(this.registry, lines.join('\n') + '\n');
  }

  /** SIGTERM to the process group, SIGKILL if it has not exited within graceMs. */
  async stop(proc: Proc, graceMs = 3000): Promise<void> {
    if (proc.exitCode() !== undefined) return;
    signalGroup(proc.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), graceMs);
    await proc.exited;
    clearTimeout(timer);
    signalGroup(proc.pid, 'SIGKILL'); // a forked worker that outlived its parent
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.stop(p)));
    for (const n of [...this.namespaces]) this.releaseNetns(n);
    this.writeRegistry();
  }

  /** Last resort from a synchronous exit handler. */
  killAllSync(): void {
    for (const p of this.procs) signalGroup(p.pid, 'SIGKILL');
    for (const n of this.namespaces) deleteNetnsSync(n);
    this.namespaces.clear();
    fs.rmSync(this.registry, { force: true });
  }

  running(): Proc[] {
    return [...this.procs];
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try { process.kill(pid, sig); } catch { /* already gone */ }
  }
}

/** pid and every descendant (from /proc/<pid>/stat parent ids). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(ppid, [...(parent.get(ppid) ?? []), Number(d)]);
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(parent.get(p) ?? []));
  }
  return out;
}

/** A "Field:   1234 kB" value of /proc/PID/status, in KiB. */
export function statusKiB(statusText: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(statusText);
  if (!m) throw new Error(`/proc status has no ${field} line`);
  return Number(m[1]);
}

export interface Memory {
  rssKiB: number; // VmRSS summed over the process tree
  hwmKiB: number; // VmHWM (peak RSS) summed over the process tree
  processes: number; // how many were summed
}

function exeOf(pid: number): string | undefined {
  try { return fs.readlinkSync(`/proc/${pid}/exe`); } catch { return undefined; }
}

/**
 * RSS of `root` and its descendants. With `sameExecutable`, only those running root's own
 * executable: a nodedns' workers, not the iptables or nft it runs for a moment to check its
 * rules (their memory is theirs, and gone a few milliseconds later).
 */
export function memoryOf(root: number, o: { sameExecutable?: boolean } = {}): Memory {
  let rssKiB = 0;
  let hwmKiB = 0;
  let processes = 0;
  const exe = o.sameExecutable ? exeOf(root) : undefined;
  for (const pid of processTree(root)) {
    if (exe !== undefined && exeOf(pid) !== exe) continue;
    try {
      const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rssKiB += statusKiB(s, 'VmRSS');
      hwmKiB += statusKiB(s, 'VmHWM');
      processes++;
    } catch { /* exited, or a kernel thread without Vm lines */ }
  }
  return { rssKiB, hwmKiB, processes };
}

/** utime + stime of one /proc/PID/stat line, in clock ticks. */
export function statCpuTicks(statText: string): number {
  // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
  const f = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** cutime + cstime of one /proc/PID/stat line: the CPU of its children that exited and were waited for. */
export function statReapedChildTicks(statText: string): number {
  const f = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  return Number(f[13]) + Number(f[14]);
}

/**
 * CPU time used so far by a process and its descendants, in clock ticks: each one's own
 * (utime + stime) and that of the children it has reaped (cutime + cstime), so that the
 * iptables a nodedns ran and waited for between two samples is counted. A child counted
 * alive in one sample and reaped by the next moves from its own line to its parent's
 * cutime: the difference of two samples counts it once. (Only a child reaped in the
 * microseconds between the reads of itself and of its parent escapes that.)
 */
export function cpuTicksOf(root: number): number {
  let t = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      t += statCpuTicks(stat) + statReapedChildTicks(stat);
    } catch { /* exited */ }
  }
  return t;
}

/** One CPU's line of /proc/stat: user nice system idle iowait irq softirq steal … (guest time is already in user). */
function cpuFields(procStat: string, cpu: number): number[] {
  const m = new RegExp(`^cpu${cpu} (.*)$`, 'm').exec(procStat);
  if (!m) throw new Error(`/proc/stat has no cpu${cpu} line`);
  return m[1].trim().split(/\s+/).map(Number);
}

/** Busy clock ticks of one CPU so far (everything but idle and iowait), from /proc/stat. */
export function cpuBusyTicks(procStat: string, cpu: number): number {
  const v = cpuFields(procStat, cpu);
  return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] ?? 0);
}

/** Ticks the hypervisor ran something else while this (virtual) CPU wanted to run: /proc/stat "steal". */
export function cpuStealTicks(procStat: string, cpu: number): number {
  return cpuFields(procStat, cpu)[7] ?? 0;
}
