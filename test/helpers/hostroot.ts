// A temporary host root for --host-root: files such as etc/resolv.conf,
// run/systemd/resolve/resolv.conf and the kubelet's, from a map of path -> content.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';

export const RESOLV_CONF = 'etc/resolv.conf';
export const RESOLVED_RESOLV_CONF = 'run/systemd/resolve/resolv.conf';
export const KUBELET_CONFIG = 'var/lib/kubelet/config.yaml';
export const KUBEADM_FLAGS = 'var/lib/kubelet/kubeadm-flags.env';
export const DEFAULT_KUBELET = 'etc/default/kubelet';

export interface HostRoot {
  dir: string;
  /** absolute path of a file under the root */
  path(rel: string): string;
  /**
   * Writes (or replaces) a file, creating its folders. Replaces by rename, as systemd-resolved
   * and kubeadm do (readers never see half a file; the inode changes); inPlace rewrites the same inode.
   */
  write(rel: string, content: string, o?: { inPlace?: boolean }): void;
  read(rel: string): string;
  exists(rel: string): boolean;
  remove(rel: string): void;
  cleanup(): void;
}

/** Creates the root with `files` (relative paths, no leading slash needed). */
export function makeHostRoot(files: Record<string, string> = {}): HostRoot {
  const dir = mkdtempSync(join(tmpdir(), 'hostroot-'));
  const path = (rel: string) => {
    const p = normalize(join(dir, rel.replace(/^\/+/, '')));
    if (!p.startsWith(dir + '/')) throw new Error(`host root path "${rel}" leaves the root`);
    return p;
  };
  const root: HostRoot = {
    dir,
    path,
    write(rel, content, o = {}) {
      const p = path(rel);
      mkdirSync(dirname(p), { recursive: true });
      if (o.inPlace || !existsSync(p)) {
        writeFileSync(p, content);
      } else {
        const tmp = `${p}.tmp-${process.pid}`;
        writeFileSync(tmp, content);
        renameSync(tmp, p);
      }
    },
    read: (rel) => readFileSync(path(rel), 'utf8'),
    exists: (rel) => existsSync(path(rel)),
    remove: (rel) => rmSync(path(rel), { force: true, recursive: true }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  for (const [rel, content] of Object.entries(files)) root.write(rel, content);
  return root;
}

/** resolv.conf text: one nameserver line per address, then search/options if given. */
export function resolvConf(nameservers: string[], o: { search?: string[]; options?: string[] } = {}): string {
  return [
    ...nameservers.map((n) => `nameserver ${n}`),
    ...(o.search?.length ? [`search ${o.search.join(' ')}`] : []),
    ...(o.options?.length ? [`options ${o.options.join(' ')}`] : []),
    '',
  ].join('\n');
}

/** A KubeletConfiguration file with the given clusterDNS (and resolvConf when given). */
export function kubeletConfig(clusterDNS: string[], o: { resolvConf?: string; clusterDomain?: string } = {}): string {
  return [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    'authentication:',
    '  anonymous:',
    '    enabled: false',
    'clusterDNS:',
    ...clusterDNS.map((ip) => `- ${ip}`),
    `clusterDomain: ${o.clusterDomain ?? 'cluster.local'}`,
    ...(o.resolvConf ? [`resolvConf: ${o.resolvConf}`] : []),
    'cgroupDriver: systemd',
    '',
  ].join('\n');
}

/**
 * The systemd-resolved layout of seed 000: etc/resolv.conf names the stub 127.0.0.53,
 * run/systemd/resolve/resolv.conf names the real upstreams.
 */
export function systemdResolvedRoot(upstreams: string[], extra: Record<string, string> = {}): HostRoot {
  return makeHostRoot({
    [RESOLV_CONF]: '# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n'
      + resolvConf(['127.0.0.53'], { options: ['edns0', 'trust-ad'] }),
    [RESOLVED_RESOLV_CONF]: '# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\n'
      + resolvConf(upstreams),
    ...extra,
  });
}
