// Runs the firewall tools (iptables-restore, iptables-save, nft) with a bounded time
// and bounded output. Never throws for a non-zero exit: callers decide what it means.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number; // -1 when the command could not be started or timed out
  stdout: string;
  stderr: string;
  /** set when the binary is not installed */
  missing?: boolean;
}

export type Runner = (cmd: string, args: string[], input?: string) => Promise<RunResult>;

const MAX_OUTPUT = 32 * 1024 * 1024; // an iptables-save of a big node is a few MB

export function runCommand(cmd: string, args: string[], input?: string, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let done = false;
    const finish = (r: RunResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ code: -1, stdout, stderr: `${stderr}\n${cmd} did not finish within ${timeoutMs} ms` });
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => { if (stdout.length < MAX_OUTPUT) stdout += d; });
    child.stderr.on('data', (d: string) => { if (stderr.length < MAX_OUTPUT) stderr += d; });
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish({ code: -1, stdout, stderr: `${cmd}: ${e.message}`, missing: e.code === 'ENOENT' });
    });
    child.on('close', (code) => finish({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => { /* the tool exited before reading its input; its exit code says why */ });
    child.stdin.end(input ?? '');
  });
}

/** The first line of a tool's complaint, for log messages and errors. */
export function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}
