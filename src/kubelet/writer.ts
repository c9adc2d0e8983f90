// Plans and applies the clusterDNS change: every place that sets kubelet's cluster DNS
// gets the same value (flags win over the config file in kubelet, so a flag is never
// left behind pointing elsewhere), nothing else in any file changes.
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseResolvConf } from '../config/resolvconf';
import { RESOLVED_RESOLV, RESOLVED_STUBS } from '../config/upstreams';
import { discoverKubelet, onHost, type KubeletLayout, DEFAULT_CONFIG, FLAG_FILES, DROPIN_DIRS } from './discover';
import { unifiedDiff } from './diff';
import { backupOnce, backupPath, writeAtomic } from './files';
import { argValue, findFlag, replaceFlag, splitServers } from './flags';
import { KubeletFileError, readKubeletYaml, spliceClusterDnsYaml } from './splice-yaml';

export { KubeletFileError };

export interface FileEdit {
  file: string; // host path
  local: string; // path as this process sees it (under --host-root)
  kind: 'flags' | 'yaml';
  before: string;
  after: string;
  servers: string[] | undefined; // what the file says now (undefined: no setting)
  dropBackup?: boolean; // restore: the backup has served its purpose
}

export interface KubeletPlan {
  layout: KubeletLayout;
  current: string[]; // kubelet's effective clusterDNS now
  currentFrom: string; // where that comes from
  target: string[] | undefined;
  edits: FileEdit[]; // files whose text changes (restore: also those whose backup is dropped)
  warnings: string[];
}

export interface SetOptions {
  ip: string;
  hostRoot: string;
  keepPrevious?: boolean;
  procDir?: string;
}

interface Site {
  file: string;
  local: string;
  kind: 'flags' | 'yaml';
  text: string;
  servers: string[] | undefined;
  resolvConf?: string;
}

function describe(hostRoot: string, file: string): string {
  return hostRoot === '/' ? file : `${file} (${onHost(hostRoot, file)})`;
}

function read(hostRoot: string, file: string): string {
  const local = onHost(hostRoot, file);
  try {
    return readFileSync(local, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new KubeletFileError(`cannot read ${describe(hostRoot, file)} (${code}); mount the host's kubelet files at --host-root ${hostRoot}`);
  }
}

/** Every file that sets or may take clusterDNS, parsed; throws before anything is written if one is unreadable. */
function readSites(layout: KubeletLayout): Site[] {
  const { hostRoot } = layout;
  const sites: Site[] = [];
  for (const f of layout.flagFiles) {
    const text = read(hostRoot, f);
    const found = findFlag(text, 'cluster-dns');
    sites.push({ file: f, local: onHost(hostRoot, f), kind: 'flags', text, servers: found[0] ? splitServers(found[0].value) : undefined });
  }
  for (const f of [...layout.dropins, ...(layout.configFile ? [layout.configFile] : [])]) {
    const text = read(hostRoot, f);
    const y = readKubeletYaml(text, describe(hostRoot, f));
    sites.push({ file: f, local: onHost(hostRoot, f), kind: 'yaml', text, servers: y.clusterDns, resolvConf: y.resolvConf });
  }
  return sites;
}

function lookedAt(layout: KubeletLayout): string {
  const files = [...FLAG_FILES, ...DROPIN_DIRS.map((d) => `${d}/*.conf`), layout.configFile ?? DEFAULT_CONFIG];
  return files.join(', ');
}

/** kubelet's effective clusterDNS: command line, then flags files, then drop-ins (last wins), then the config file. */
function effective(layout: KubeletLayout, sites: Site[]): { servers: string[]; from: string } {
  const argv = layout.process ? argValue(layout.process.args, 'cluster-dns') : undefined;
  if (argv !== undefined) return { servers: splitServers(argv), from: `kubelet's command line (pid ${layout.process!.pid})` };
  const flag = sites.find((s) => s.kind === 'flags' && s.servers);
  if (flag) return { servers: flag.servers!, from: flag.file };
  const dropin = sites.filter((s) => s.kind === 'yaml' && s.file !== layout.configFile && s.servers).pop();
  if (dropin) return { servers: dropin.servers!, from: dropin.file };
  const cfg = sites.find((s) => s.file === layout.configFile);
  if (cfg?.servers) return { servers: cfg.servers, from: cfg.file };
  return { servers: [], from: 'nowhere (kubelet has no cluster DNS set)' };
}

/** seed 000: on a systemd-resolved host, kubelet must hand pods the real upstreams, not 127.0.0.53. */
export function checkResolvConf(layout: KubeletLayout, sites: Site[]): string | undefined {
  let hostNs: string[];
  try {
    hostNs = parseResolvConf(readFileSync(onHost(layout.hostRoot, '/etc/resolv.conf'), 'utf8')).nameservers;
  } catch {
    return undefined;
  }
  if (!hostNs.some((n) => RESOLVED_STUBS.includes(n))) return undefined;
  const want = `/${RESOLVED_RESOLV}`;
  const cfg = sites.find((s) => s.file === layout.configFile);
  const fromDropin = sites.filter((s) => s.kind === 'yaml' && s.file !== layout.configFile && s.resolvConf).pop();
  const value = layout.resolvConfFlag ?? fromDropin?.resolvConf ?? cfg?.resolvConf ?? '/etc/resolv.conf';
  if (value === want) return undefined;
  const where = layout.resolvConfFlag !== undefined ? 'the --resolv-conf flag'
    : `resolvConf in ${(fromDropin ?? cfg)?.file ?? layout.configFile ?? DEFAULT_CONFIG}`;
  return `this host runs systemd-resolved (/etc/resolv.conf names ${hostNs.filter((n) => RESOLVED_STUBS.includes(n)).join(', ')}), `
    + `but kubelet's resolvConf is ${value}: pods with dnsPolicy Default and the cluster DNS would get a loopback nameserver they cannot reach. `
    + `Set ${where} to ${want} and restart kubelet`;
}

function checkIp(ip: string): void {
  if (isIP(ip) === 0) throw new KubeletFileError(`--ip "${ip}" is not an IP address (example: --ip 169.254.20.10)`);
}

export function planSet(opts: SetOptions): KubeletPlan {
  checkIp(opts.ip);
  const layout = discoverKubelet(opts.hostRoot, opts.procDir);
  const sites = readSites(layout);
  const cur = effective(layout, sites);
  const argv = layout.process ? argValue(layout.process.args, 'cluster-dns') : undefined;
  const flagSites = sites.filter((s) => s.kind === 'flags' && s.servers);
  if (argv !== undefined && flagSites.length === 0) {
    throw new KubeletFileError(`kubelet runs with --cluster-dns=${argv} (pid ${layout.process!.pid}) but none of its flags files sets it `
      + `(looked at ${layout.flagFiles.join(', ') || lookedAt(layout)}); change it where your kubelet's unit is defined`);
  }
  const target = cur.servers[0] === opts.ip
    ? cur.servers
    : [opts.ip, ...(opts.keepPrevious && cur.servers[0] ? [cur.servers[0]] : [])];
  const targets = sites.filter((s) => s.servers !== undefined);
  if (targets.length === 0) {
    const cfg = sites.find((s) => s.file === layout.configFile);
    if (!cfg) {
      throw new KubeletFileError(`found no place where this node's kubelet takes its cluster DNS (looked at ${lookedAt(layout)} under `
        + `--host-root ${opts.hostRoot}). Mount the host's kubelet files there, or set kubelet's --cluster-dns or clusterDNS by hand`);
    }
    targets.push(cfg); // no setting anywhere: add clusterDNS to the config file
  }
  const edits: FileEdit[] = [];
  for (const s of targets) {
    const after = s.kind === 'flags'
      ? replaceFlag(s.text, 'cluster-dns', target.join(','))
      : spliceClusterDnsYaml(s.text, target, describe(opts.hostRoot, s.file));
    if (after !== s.text) edits.push({ file: s.file, local: s.local, kind: s.kind, before: s.text, after, servers: s.servers });
  }
  const warnings: string[] = [];
  const rc = checkResolvConf(layout, sites);
  if (rc) warnings.push(rc);
  return { layout, current: cur.servers, currentFrom: cur.from, target, edits, warnings };
}

/** Puts back the clusterDNS each backed-up file had; other changes made since are kept. */
export function planRestore(hostRoot: string, procDir?: string): KubeletPlan {
  const layout = discoverKubelet(hostRoot, procDir);
  const files = [...layout.flagFiles, ...layout.dropins, ...(layout.configFile ? [layout.configFile] : [])];
  const edits: FileEdit[] = [];
  for (const f of files) {
    const local = onHost(hostRoot, f);
    if (!existsSync(backupPath(local))) continue;
    const before = read(hostRoot, f);
    let original: string;
    try {
      original = readFileSync(backupPath(local), 'utf8');
    } catch (e) {
      throw new KubeletFileError(`cannot read the backup ${backupPath(local)}: ${(e as Error).message}`);
    }
    const isFlags = layout.flagFiles.includes(f);
    let after: string;
    let servers: string[] | undefined;
    // When the file differs from the backup only by what nodedns changed, the backup goes
    // back byte for byte; otherwise (someone edited it since) only clusterDNS is put back.
    if (isFlags) {
      const old = findFlag(original, 'cluster-dns')[0];
      const now = findFlag(before, 'cluster-dns')[0];
      servers = now ? splitServers(now.value) : undefined;
      const onlyOurs = now !== undefined && old !== undefined && replaceFlag(original, 'cluster-dns', now.value) === before;
      after = onlyOurs ? original : old && now ? replaceFlag(before, 'cluster-dns', old.value) : before;
    } else {
      const where = describe(hostRoot, f);
      const old = readKubeletYaml(original, `${backupPath(local)}`).clusterDns;
      servers = readKubeletYaml(before, where).clusterDns;
      let onlyOurs = false;
      try {
        onlyOurs = servers !== undefined && spliceClusterDnsYaml(original, servers, where) === before;
      } catch {
        onlyOurs = false;
      }
      after = onlyOurs ? original : spliceClusterDnsYaml(before, old, where);
    }
    edits.push({ file: f, local, kind: isFlags ? 'flags' : 'yaml', before, after, servers, dropBackup: true });
  }
  const sites = readSites(layout);
  const cur = effective(layout, sites);
  return { layout, current: cur.servers, currentFrom: cur.from, target: undefined, edits, warnings: [] };
}

export interface ApplyResult {
  written: string[]; // host paths
  backups: string[]; // backups made now (local paths)
}

export function applyPlan(plan: KubeletPlan): ApplyResult {
  const res: ApplyResult = { written: [], backups: [] };
  for (const e of plan.edits) {
    if (e.after !== e.before) {
      if (!e.dropBackup && backupOnce(e.local)) res.backups.push(backupPath(e.local));
      writeAtomic(e.local, e.after);
      res.written.push(e.file);
    }
    if (e.dropBackup) unlinkSync(backupPath(e.local));
  }
  return res;
}

export function planDiff(plan: KubeletPlan): string {
  return plan.edits.map((e) => unifiedDiff(e.before, e.after, `${e.file}`, `${e.file} (nodedns)`)).join('');
}

/** What the operator must do after a change; `ip` undefined after a restore. */
export function nextSteps(ip: string | undefined, restarted: boolean, restartTried = false): string {
  const ns = ip ? `"nameserver ${ip}"` : 'the restored nameserver';
  const pods = `Only pods created after that get ${ns}; running pods keep their resolv.conf until they are recreated `
    + '(for example "kubectl rollout restart deployment NAME")';
  return restarted
    ? `kubelet restarted with the new setting. ${pods}.`
    : `kubelet reads clusterDNS only when it starts: restart it on this node ("systemctl restart kubelet"${restartTried ? '' : ', or run again with --restart-kubelet'}). ${pods}.`;
}
