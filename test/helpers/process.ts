// One child process of a test: its output captured line by line, a promise of its exit,
// and a stop() that always ends it (SIGTERM, then SIGKILL after a grace period).
// Every child is also killed when the test process exits or dies, whatever the test did.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** stdout and stderr, one entry per line, in arrival order */
  readonly lines: string[];
  readonly exited: Promise<ExitStatus>;
  /** the exit status once it has exited, else undefined */
  exitStatus(): ExitStatus | undefined;
  /** the last n lines, for error messages */
  tail(n?: number): string;
  /** resolves with the first line (already seen or future) that matches */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves when the process is gone */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>;
}

// How long a test waits for a process to start or for a state to appear, by default. This
// machine and CI's are shared: start-up may take many times its idle duration, so the bound is
// generous, and a wait that runs out fails with what it saw (the child's last lines).
export const PATIENCE_MS = 60_000;

/**
 * Why a suite cannot run here: the first of `tools` not on PATH, as a skip reason. Under make
 * test and make e2e (TEST_DEPS_INSTALLED=1, after make test-deps installed every tool,
 * Makefile TEST_PKGS) or CI, a missing tool is no reason to skip: the suite runs and fails on
 * it, where a skip would pass unseen.
 */
export function missingTools(tools: string[]): string | undefined {
  const missing = tools.find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing === undefined || process.env.TEST_DEPS_INSTALLED === '1' || process.env.CI) return undefined;
  return `${missing} is not installed (make test-deps installs it)`;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export interface SpawnChildOptions extends Pick<SpawnOptions, 'cwd' | 'env'> {
  /** called for every output line (after it is stored) */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** cap on stored lines (oldest dropped); default 100000 */
  maxLines?: number;
}

// setpriv (util-linux) execs the command with a parent-death signal: if the test process
// dies without running its hooks (killed, crashed), the kernel kills the child too.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export function spawnChild(name: string, cmd: string, args: string[], opts: SpawnChildOptions = {}): Child {
  const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args];
  const proc = spawn(file, argv, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const maxLines = opts.maxLines ?? 100_000;
  const watchers = new Set<(line: string) => void>();
  let status: ExitStatus | undefined;

  const exited = new Promise<ExitStatus>((resolve) => {
    proc.once('error', (e) => {
      lines.push(`[${name}] spawn error: ${e.message}`);
      status = { code: -1, signal: null };
      running.delete(proc);
      resolve(status);
    });
    proc.once('close', (code, signal) => {
      status = { code, signal };
      running.delete(proc);
      resolve(status);
    });
  });
  if (proc.pid !== undefined) running.add(proc);

  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    const src = proc[stream]!;
    src.setEncoding('utf8');
    src.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const line of parts) emit(line, stream);
    });
    src.on('end', () => { if (partial) emit(partial, stream); partial = ''; });
  }

  function emit(line: string, stream: 'stdout' | 'stderr') {
    lines.push(line);
    if (lines.length > maxLines) lines.splice(0, lines.length - maxLines);
    opts.onLine?.(line, stream);
    for (const w of watchers) w(line);
  }

  const tail = (n = 30) => lines.slice(-n).join('\n');

  return {
    name,
    proc,
    pid: proc.pid ?? -1,
    lines,
    exited,
    exitStatus: () => status,
    tail,
    waitForLine(match, timeoutMs = PATIENCE_MS) {
      const test = typeof match === 'function' ? match : (l: string) => match.test(l);
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = () => { watchers.delete(w); clearTimeout(timer); };
        const w = (l: string) => { if (test(l)) { done(); resolve(l); } };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no output line matching ${match} within ${timeoutMs} ms; last lines:\n${tail()}`));
        }, timeoutMs);
        watchers.add(w);
        void exited.then((s) => {
          if (!watchers.has(w)) return;
          done();
          reject(new Error(`${name} exited (code ${s.code}, signal ${s.signal}) before printing a line matching ${match}; last lines:\n${tail()}`));
        });
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (status) return status;
      try { proc.kill(signal); } catch { /* gone */ }
      const timer = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
      const s = await exited;
      clearTimeout(timer);
      return s;
    },
  };
}

/** Thrown by a waitUntil check to stop waiting at once (e.g. the process died). */
export class GiveUp extends Error {}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined.
 * Errors it throws count as "not yet", except GiveUp, which ends the wait at once.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
