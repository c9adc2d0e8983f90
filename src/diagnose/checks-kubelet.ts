// Doctor checks on what kubelet hands pods: the nameserver (seeds 002, 004), the resolv.conf
// it copies from (seed 000), and the resolv.conf a pod ends up with (seeds 001, 004).
import { readFileSync } from 'node:fs';
import { parseResolvConf } from '../config/resolvconf';
import { RESOLVED_RESOLV, RESOLVED_STUBS } from '../config/upstreams';
import { onHost } from '../kubelet/discover';
import { result, type CheckResult, type DoctorContext } from './doctor-types';
import {
  LIBC_MAX_SEARCH, LIBC_MAX_SEARCH_CHARS, MAX_NAMESERVERS, MUSL_MAX_LINE, podResolvFor,
} from './pod-resolv';

function notFound(ctx: DoctorContext): string {
  return `no kubelet found under --host-root ${ctx.config.hostRoot} (neither its process nor its flags or config files)`;
}

const MOUNT_FIX = 'run doctor on the node, or in the nodedns pod with the host\'s /var/lib/kubelet, /etc and /proc mounted at --host-root';

/** In the shipped pod kubelet's files are not mounted (DoctorContext.inPod says why): one line, and SKIP. */
const NEEDS_NODE = 'needs the node: kubelet\'s files are not mounted in the nodedns pod; run "nodedns doctor" on the node itself';

function noKubelet(ctx: DoctorContext, id: string, title: string, seed: string, status: 'WARN' | 'SKIP'): CheckResult {
  return ctx.inPod ? result(id, title, seed, 'SKIP', NEEDS_NODE, 'ssh to the node (or kubectl debug node/NAME, chroot /host) and run nodedns doctor there')
    : result(id, title, seed, status, notFound(ctx), MOUNT_FIX);
}

export async function checkKubeletClusterDns(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'kubelet-cluster-dns';
  const title = 'kubelet points pods at nodedns';
  const k = ctx.kubelet;
  const ip = ctx.config.localIps[0];
  const setFix = `nodedns kubelet set --ip ${ip} (or run the agent with --write-kubelet-config), restart kubelet; pods get the new nameserver when they are recreated`;
  if (!k.found) return noKubelet(ctx, id, title, '004', 'WARN');
  if (k.error && k.clusterDns.length === 0) return result(id, title, '004', 'WARN', `cannot tell kubelet's clusterDNS: ${k.error}`, MOUNT_FIX);
  const list = `[${k.clusterDns.join(', ')}] (from ${k.clusterDnsFrom})`;
  const first = k.clusterDns[0];
  if (first === undefined) {
    return result(id, title, '004', 'FAIL', `kubelet has no clusterDNS ${list}: ClusterFirst pods get the node's resolv.conf instead of a cluster resolver`, setFix);
  }
  if (ctx.config.localIps.includes(first)) {
    const more = k.clusterDns.length > 1 ? `; pods try ${k.clusterDns.slice(1).join(', ')} only when nodedns does not answer` : '';
    return result(id, title, '004', 'PASS', `kubelet clusterDNS ${list}: pods ask nodedns (${first})${more}`);
  }
  const clusterDns = (ctx.agent?.state.config ?? ctx.config).clusterDns.map((e) => e.host);
  if (clusterDns.includes(first)) {
    return result(id, title, '002', 'WARN',
      `kubelet clusterDNS ${list} is the cluster DNS Service itself: pods go through kube-proxy's DNAT straight to the cluster DNS and never use nodedns or its cache`, setFix);
  }
  return result(id, title, '004', 'FAIL',
    `kubelet clusterDNS ${list}: ${first} is neither nodedns (${ctx.config.localIps.join(', ')}) nor the cluster DNS (${clusterDns.join(', ') || 'unknown'})`, setFix);
}

export async function checkKubeletResolvConf(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'kubelet-resolv-conf';
  const title = 'kubelet\'s resolvConf is a real resolver list';
  const k = ctx.kubelet;
  if (!k.found) return noKubelet(ctx, id, title, '000', 'SKIP');
  if (k.resolvConf === '') return result(id, title, '000', 'PASS', `kubelet --resolv-conf="" (${k.resolvConfFrom}): pods inherit no host DNS settings`);
  const where = `kubelet's resolvConf is ${k.resolvConf} (${k.resolvConfFrom})`;
  let names: string[];
  try {
    names = parseResolvConf(readFileSync(onHost(ctx.config.hostRoot, k.resolvConf), 'utf8')).nameservers;
  } catch (e) {
    return result(id, title, '000', 'FAIL', `${where}, which cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      `point kubelet's resolvConf (or --resolv-conf) at the file that lists the node's real resolvers, and restart kubelet`);
  }
  const stubs = names.filter((n) => RESOLVED_STUBS.includes(n));
  const fixStub = `set resolvConf: /${RESOLVED_RESOLV} in ${k.resolvConfFrom === 'kubelet\'s default' ? '/var/lib/kubelet/config.yaml' : k.resolvConfFrom} `
    + '(or --resolv-conf), restart kubelet, and recreate the cluster DNS pods';
  if (stubs.length) {
    return result(id, title, '000', 'FAIL',
      `${where}, which names the systemd-resolved stub ${stubs.join(', ')}: the cluster DNS and dnsPolicy Default pods forward to a loopback address inside their own network namespace, where nothing answers`,
      fixStub);
  }
  const loop = names.filter((n) => n.startsWith('127.') || n === '::1');
  if (loop.length) {
    return result(id, title, '000', 'WARN', `${where}, which names the loopback address ${loop.join(', ')}: unreachable from pods`,
      'point kubelet\'s resolvConf at a file with resolvers reachable from pods, and restart kubelet');
  }
  return result(id, title, '000', 'PASS', `${where}: nameserver ${names.join(', ') || '(none)'}`);
}

export async function checkPodResolvConf(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'pod-resolv-conf';
  const title = 'the resolv.conf pods get fits libc\'s limits';
  const pod = podResolvFor(ctx.config, ctx.namespace, ctx.kubelet.found ? ctx.kubelet : undefined, ctx.config.localIps[0]);
  const { rc } = pod;
  const problems: string[] = [];
  const details = [`namespace ${ctx.namespace}: ${pod.text.trim().split('\n').join(' | ')}`];
  if (rc.nameservers.length > MAX_NAMESERVERS) {
    problems.push(`${rc.nameservers.length} nameservers: kubelet and libc keep ${MAX_NAMESERVERS}, ${rc.nameservers.slice(MAX_NAMESERVERS).join(', ')} never used`);
  }
  if (rc.search.length > LIBC_MAX_SEARCH) {
    problems.push(`${rc.search.length} search domains (kubelet's 3 + ${pod.hostSearch.length} from ${pod.hostSearchFrom}): glibc before 2.26 and kubelet before 1.28 keep ${LIBC_MAX_SEARCH}, `
      + `so ${rc.search.slice(LIBC_MAX_SEARCH).join(' ')} ${rc.search.length - LIBC_MAX_SEARCH === 1 ? 'is' : 'are'} lost`);
  }
  const line = `search ${rc.search.join(' ')}`;
  const chars = rc.search.join(' ').length;
  if (chars > LIBC_MAX_SEARCH_CHARS) problems.push(`the search line has ${chars} characters: glibc before 2.26 keeps ${LIBC_MAX_SEARCH_CHARS}`);
  if (line.length > MUSL_MAX_LINE) problems.push(`musl (Alpine images) ignores the whole search line at ${line.length} characters (it reads ${MUSL_MAX_LINE})`);
  const n = rc.search.length;
  const ndots = `ndots:5 (kubelet's default): a name with fewer than 5 dots first tries ${n} search domain${n === 1 ? '' : 's'}, so an external name `
    + `like example.com costs ${2 * (n + 1)} queries (A and AAAA); "nodedns explain NAME" shows them`;
  if (problems.length) {
    return result(id, title, '004', 'WARN', `${problems.join('; ')}; ${ndots}`,
      `trim the search line of ${pod.hostSearchFrom} on the host to at most 3 domains (kubelet adds 3), or point kubelet's resolvConf at a file with fewer; `
      + 'for one pod: dnsPolicy None with its own dnsConfig', details);
  }
  return result(id, title, '004', 'PASS', `${rc.nameservers.length} nameserver(s), ${n} search domains (${rc.search.join(' ')}); ${ndots}`, undefined, details);
}
