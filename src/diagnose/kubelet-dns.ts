// What this node's kubelet hands pods as DNS settings: clusterDNS, clusterDomain and the
// resolv.conf it copies search domains from. Built on the kubelet helper's discovery
// (src/kubelet/): the running kubelet's command line first, then its flags files,
// drop-ins and config file, in kubelet's own precedence.
import { readFileSync } from 'node:fs';
import { isMap, parseAllDocuments, type YAMLMap } from 'yaml';
import { discoverKubelet, onHost, type KubeletLayout } from '../kubelet/discover';
import { argValue, findFlag } from '../kubelet/flags';
import { planSet } from '../kubelet/writer';

export interface KubeletDns {
  /** kubelet's process or one of its files was found */
  found: boolean;
  clusterDns: string[];
  clusterDnsFrom: string;
  clusterDomain?: string;
  clusterDomainFrom?: string;
  /** host path of the file pods' search domains come from; '' = none (kubelet --resolv-conf="") */
  resolvConf: string;
  resolvConfFrom: string;
  /** already phrased for the operator (e.g. resolvConf on a systemd-resolved host, seed 000) */
  warnings: string[];
  /** kubelet's files could not be read or understood */
  error?: string;
  layout?: KubeletLayout;
}

interface YamlDns { clusterDomain?: string; resolvConf?: string }

function yamlDns(text: string): YamlDns {
  try {
    for (const d of parseAllDocuments(text) as ReturnType<typeof parseAllDocuments> & unknown[]) {
      if (!isMap(d.contents)) continue;
      const m = d.contents as YAMLMap;
      const kind = m.get('kind');
      if (kind !== undefined && kind !== 'KubeletConfiguration') continue;
      const cd = m.get('clusterDomain');
      const rc = m.get('resolvConf');
      return { clusterDomain: typeof cd === 'string' ? cd : undefined, resolvConf: typeof rc === 'string' ? rc : undefined };
    }
  } catch { /* unreadable YAML is reported by planSet */ }
  return {};
}

function read(hostRoot: string, file: string): string | undefined {
  try {
    return readFileSync(onHost(hostRoot, file), 'utf8');
  } catch {
    return undefined;
  }
}

/** A flag's value: the command line when kubelet runs, else the first flags file that sets it. */
function flag(layout: KubeletLayout, name: string): { value: string; from: string } | undefined {
  if (layout.process) {
    const v = argValue(layout.process.args, name);
    return v === undefined ? undefined : { value: v, from: `kubelet's command line (pid ${layout.process.pid})` };
  }
  for (const f of layout.flagFiles) {
    const site = findFlag(read(layout.hostRoot, f) ?? '', name)[0];
    if (site) return { value: site.value, from: f };
  }
  return undefined;
}

/** A KubeletConfiguration field: drop-ins (the last wins), then the config file. */
function field(layout: KubeletLayout, key: keyof YamlDns): { value: string; from: string } | undefined {
  for (const f of [...layout.dropins].reverse()) {
    const v = yamlDns(read(layout.hostRoot, f) ?? '')[key];
    if (v !== undefined) return { value: v, from: f };
  }
  if (layout.configFile) {
    const v = yamlDns(read(layout.hostRoot, layout.configFile) ?? '')[key];
    if (v !== undefined) return { value: v, from: layout.configFile };
  }
  return undefined;
}

export function readKubeletDns(hostRoot: string, nodednsIp: string, procDir?: string): KubeletDns {
  const out: KubeletDns = {
    found: false, clusterDns: [], clusterDnsFrom: 'nowhere', resolvConf: '/etc/resolv.conf',
    resolvConfFrom: 'kubelet\'s default', warnings: [],
  };
  let layout: KubeletLayout;
  try {
    layout = discoverKubelet(hostRoot, procDir);
  } catch (e) {
    out.error = (e as Error).message;
    return out;
  }
  out.layout = layout;
  out.found = layout.process !== undefined || layout.configFile !== undefined || layout.flagFiles.length > 0;
  if (!out.found) return out;
  try {
    const plan = planSet({ ip: nodednsIp, hostRoot, procDir });
    out.clusterDns = plan.current;
    out.clusterDnsFrom = plan.currentFrom;
    out.warnings.push(...plan.warnings);
  } catch (e) {
    out.error = (e as Error).message;
  }
  const rcFlag = flag(layout, 'resolv-conf');
  const rc = rcFlag ?? field(layout, 'resolvConf');
  if (rc) {
    out.resolvConf = rc.value;
    out.resolvConfFrom = rc.from;
  }
  const cd = flag(layout, 'cluster-domain') ?? field(layout, 'clusterDomain');
  if (cd) {
    out.clusterDomain = cd.value.replace(/\.$/, '').toLowerCase();
    out.clusterDomainFrom = cd.from;
  }
  return out;
}
