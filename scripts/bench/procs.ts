// Every process the benchmark starts goes through here, so that every one of them is
// stopped: on a normal end, on an error, on Ctrl-C or SIGTERM. Each child leads its own
// process group (a worker it forks goes down with it), and its pid is written to a
// registry file so that a run killed with SIGKILL is cleaned up by the next run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REGISTRY_DIR = '/tmp/nodedns-bench-registry';
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

export class Processes {
  private procs = new Set<Proc>();
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

  private writeRegistry(): void {
    const lines = [...this.procs].map((p) => `${p.pid}\t${JSON.stringify(readCmdline(p.pid) ?? '')}`);
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
    this.writeRegistry();
  }

  /** Last resort from a synchronous exit handler. */
  killAllSync(): void {
    for (const p of this.procs) signalGroup(p.pid, 'SIGKILL');
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
}

export function memoryOf(root: number): Memory {
  let rssKiB = 0;
  let hwmKiB = 0;
  for (const pid of processTree(root)) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rssKiB += statusKiB(s, 'VmRSS');
      hwmKiB += statusKiB(s, 'VmHWM');
    } catch { /* exited, or a kernel thread without Vm lines */ }
  }
  return { rssKiB, hwmKiB };
}

/** utime + stime of one /proc/PID/stat line, in clock ticks. */
export function statCpuTicks(statText: string): number {
  // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
  const f = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** CPU time used so far by a process and its descendants, in clock ticks. */
export function cpuTicksOf(root: number): number {
  let t = 0;
  for (const pid of processTree(root)) {
    try { t += statCpuTicks(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { /* exited */ }
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
