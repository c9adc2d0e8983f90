// Restarting kubelet through the host's init system. From a pod this needs the host's
// PID namespace (hostPID: true) and the privilege to enter PID 1's mount namespace.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RestartResult {
  restarted: boolean;
  message: string;
}

const TIMEOUT_MS = 60_000;

export function initName(procDir: string): string {
  try {
    return readFileSync(join(procDir, '1', 'comm'), 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export function restartKubelet(procDir: string, hostRoot: string): RestartResult {
  if (procDir !== '/proc') {
    // the host's processes were read from a mounted copy of its /proc: PID 1 there is not
    // PID 1 of this process's namespace, which is what nsenter would enter
    return {
      restarted: false,
      message: `cannot restart kubelet from here: the host's processes were read from ${procDir}, not from this process's /proc `
        + '(a pod needs hostPID: true and privileged: true for this). Run "systemctl restart kubelet" on the node',
    };
  }
  const init = initName(procDir);
  if (init !== 'systemd') {
    return {
      restarted: false,
      message: `cannot restart kubelet from here: PID 1 in ${procDir} is "${init}", not the host's systemd `
        + '(a pod needs hostPID: true and privileged: true for this). Run "systemctl restart kubelet" on the node',
    };
  }
  // on the node itself: plain systemctl; in a pod with the host's PID namespace: enter PID 1's namespaces
  const argv = hostRoot === '/' && procDir === '/proc'
    ? ['systemctl', 'restart', 'kubelet']
    : ['nsenter', '--target', '1', '--mount', '--uts', '--ipc', '--net', '--pid', '--', 'systemctl', 'restart', 'kubelet'];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: TIMEOUT_MS });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || r.stdout || `exit code ${r.status}`).trim();
    return { restarted: false, message: `"${argv.join(' ')}" failed: ${why}. Run "systemctl restart kubelet" on the node` };
  }
  return { restarted: true, message: `kubelet restarted ("${argv.join(' ')}")` };
}
