// Upstream sockets stop short of the open-files limit, so that listeners, client TCP
// connections, /health, /metrics and the control socket always find a descriptor.
// Without the reserve, a black-holed upstream filled the table: /health went silent,
// TCP DNS was reset, and the log blamed the upstream.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { FD_ADVICE } from './errors';

export interface FdLimits {
  soft: number;
  hard: number;
}

/** "Max open files" of this process from /proc/self/limits (Infinity for "unlimited"). */
export function readFdLimits(text = readFileSync('/proc/self/limits', 'utf8')): FdLimits | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  const n = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}

/**
 * Raises the soft limit to the hard one. Node has no setrlimit; prlimit(1) from util-linux
 * on our own pid does it. Returns the limits in force afterwards and what went wrong, if anything.
 */
export function raiseFdLimit(): { limits: FdLimits | undefined; error?: string } {
  const before = readFdLimits();
  if (!before || before.soft >= before.hard) return { limits: before };
  const hard = Number.isFinite(before.hard) ? String(before.hard) : 'unlimited';
  try {
    execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${hard}:${hard}`], { stdio: 'ignore', timeout: 5000 });
  } catch (e) {
    return { limits: before, error: `prlimit failed (${(e as Error).message.split('\n')[0]})` };
  }
  return { limits: readFdLimits() };
}

export function openFdCount(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/** How many upstream sockets may be open at once; every UDP try and TCP connection takes one. */
export class SocketBudget {
  open = 0;
  constructor(public max = Infinity) {}

  acquire(): boolean {
    if (this.open >= this.max) return false;
    this.open++;
    return true;
  }

  release(): void {
    this.open--;
  }
}

/** The process' budget: set once at start (src/serve/agent.ts), read by every upstream socket. */
export const upstreamSockets = new SocketBudget();

/**
 * The budget for a soft limit: what is open now (listeners, log, IPC), every client TCP
 * connection the listeners may accept, and the reserve stay free.
 */
export function socketBudget(soft: number, openNow: number, clientConnections: number, reserve: number): number {
  return Math.max(0, soft - openNow - clientConnections - reserve);
}

/**
 * At start: raise the soft open-files limit to the hard one, then size the upstream socket
 * budget from it. Logs the figures, and a warning with the fix when they leave little room.
 */
export function sizeUpstreamSockets(opts: { fdReserve: number; clientConnections: number }, log: Logger): void {
  const { limits, error } = raiseFdLimit();
  if (!limits) {
    log.warn('cannot read the open-files limit from /proc/self/limits; upstream sockets are not held to --fd-reserve');
    return;
  }
  if (error) log.warn({ soft: limits.soft, hard: limits.hard, err: error }, 'could not raise the soft open-files limit to the hard one; the DaemonSet\'s limit applies');
  upstreamSockets.max = Number.isFinite(limits.soft) ? socketBudget(limits.soft, openFdCount(), opts.clientConnections, opts.fdReserve) : Infinity;
  const fields = { openFilesSoft: limits.soft, openFilesHard: limits.hard, upstreamSockets: upstreamSockets.max, fdReserve: opts.fdReserve };
  if (upstreamSockets.max < 256) {
    log.warn(fields, `the open-files limit leaves room for only ${upstreamSockets.max} upstream sockets after client TCP connections and --fd-reserve; more misses at once get SERVFAIL: ${FD_ADVICE}`);
  } else {
    log.debug(fields, 'open-files limit and upstream socket budget');
  }
}
