// Where this node's kubelet takes its DNS setting from. The running kubelet's command
// line (/proc, when the host's processes are visible) is the truth; without it, the
// files kubeadm, distro packages and systemd use are read instead.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { argValue, findFlag } from './flags';

export const DEFAULT_CONFIG = '/var/lib/kubelet/config.yaml';

/** Files that may hold kubelet flags, in the order systemd and the packages read them. */
export const FLAG_FILES = [
  '/var/lib/kubelet/kubeadm-flags.env',
  '/etc/default/kubelet',
  '/etc/sysconfig/kubelet',
  '/usr/lib/systemd/system/kubelet.service',
  '/lib/systemd/system/kubelet.service',
  '/etc/systemd/system/kubelet.service',
];
export const DROPIN_DIRS = [
  '/usr/lib/systemd/system/kubelet.service.d',
  '/lib/systemd/system/kubelet.service.d',
  '/etc/systemd/system/kubelet.service.d',
  '/run/systemd/system/kubelet.service.d',
];

export interface KubeletProcess {
  pid: number;
  args: string[];
}

export interface KubeletLayout {
  hostRoot: string;
  procDir: string;
  process?: KubeletProcess;
  configFile?: string; // host path
  configDir?: string; // host path of --config-dir (drop-in KubeletConfiguration files)
  dropins: string[]; // host paths of files in configDir, in the order kubelet applies them
  flagFiles: string[]; // host paths that exist
  resolvConfFlag?: string;
  notes: string[]; // how each thing was found, for the operator
}

export function onHost(hostRoot: string, p: string): string {
  return hostRoot === '/' ? p : join(hostRoot, p);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const MAX_PROCS = 100_000;

/** The kubelet process among `procDir`/PID/cmdline, if this process can see it. */
export function findKubeletProcess(procDir: string): KubeletProcess | undefined {
  let pids: string[];
  try {
    pids = readdirSync(procDir).filter((n) => /^\d+$/.test(n)).slice(0, MAX_PROCS);
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    const raw = readText(join(procDir, pid, 'cmdline'));
    if (!raw) continue;
    const args = raw.split('\0');
    if (args[args.length - 1] === '') args.pop();
    if (args.length > 0 && basename(args[0]) === 'kubelet') return { pid: Number(pid), args: args.slice(1) };
  }
  return undefined;
}

function listDropins(hostRoot: string, dir: string): string[] {
  try {
    return readdirSync(onHost(hostRoot, dir)).filter((n) => n.endsWith('.conf')).sort().map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** The first value of --name found in the flags files. */
function flagInFiles(hostRoot: string, files: string[], name: string): { value: string; file: string } | undefined {
  for (const f of files) {
    const text = readText(onHost(hostRoot, f));
    const site = text === undefined ? undefined : findFlag(text, name)[0];
    if (site) return { value: site.value, file: f };
  }
  return undefined;
}

export function discoverKubelet(hostRoot: string, procDirOverride?: string): KubeletLayout {
  const hostProc = onHost(hostRoot, '/proc');
  const procDir = procDirOverride ?? (existsSync(hostProc) ? hostProc : '/proc');
  const seen = new Set<string>();
  const flagFiles: string[] = [];
  for (const f of [...FLAG_FILES, ...DROPIN_DIRS.flatMap((d) => listDropins(hostRoot, d))]) {
    const local = onHost(hostRoot, f);
    let real: string;
    try {
      if (!statSync(local).isFile()) continue;
      real = realpathSync(local); // /lib is often /usr/lib
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    flagFiles.push(f);
  }
  const layout: KubeletLayout = { hostRoot, procDir, flagFiles, dropins: [], notes: [] };
  const proc = findKubeletProcess(procDir);
  if (proc) {
    layout.process = proc;
    layout.notes.push(`kubelet is running (pid ${proc.pid}); its command line says where its settings are`);
    layout.configFile = argValue(proc.args, 'config');
    layout.configDir = argValue(proc.args, 'config-dir');
    layout.resolvConfFlag = argValue(proc.args, 'resolv-conf');
    if (!layout.configFile) layout.notes.push('kubelet runs without --config, so it reads no KubeletConfiguration file');
  } else {
    layout.notes.push(`kubelet's process is not visible in ${procDir}; reading its files instead`);
    const cfg = flagInFiles(hostRoot, flagFiles, 'config');
    if (cfg) {
      layout.configFile = cfg.value;
      layout.notes.push(`--config=${cfg.value} is set in ${cfg.file}`);
    } else if (existsSync(onHost(hostRoot, DEFAULT_CONFIG))) {
      layout.configFile = DEFAULT_CONFIG;
    }
    layout.configDir = flagInFiles(hostRoot, flagFiles, 'config-dir')?.value;
    layout.resolvConfFlag = flagInFiles(hostRoot, flagFiles, 'resolv-conf')?.value;
  }
  if (layout.configDir) layout.dropins = listDropins(hostRoot, layout.configDir);
  return layout;
}
