// Doctor checks on the host's resolvers (seed 000): what the host resolv.conf names,
// whether the real upstreams answer, and whether any of them forwards back to nodedns.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseResolvConf } from '../config/resolvconf';
import type { Endpoint } from '../config/types';
import { discoverUpstreams, HOST_RESOLV, RESOLVED_STUBS, type Discovery } from '../config/upstreams';
import { parseEndpoint } from '../config/values';
import { Firewall } from '../node/firewall/firewall';
import { ask, endpointText } from './ask';
import { result, type CheckResult, type DoctorContext } from './doctor-types';
import { ms } from './render';

const SEED = '000';

function discover(ctx: DoctorContext): Discovery | Error {
  try {
    return discoverUpstreams(ctx.config.hostRoot, ctx.config.localIps);
  } catch (e) {
    return e as Error;
  }
}

export async function checkHostResolvConf(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'host-resolv-conf';
  const title = 'host resolv.conf and the real upstreams behind it';
  const file = join(ctx.config.hostRoot, HOST_RESOLV);
  let names: string[];
  try {
    names = parseResolvConf(readFileSync(file, 'utf8')).nameservers;
  } catch (e) {
    return result(id, title, SEED, 'FAIL', `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      `mount the host's /etc at --host-root (now ${ctx.config.hostRoot}), or set --upstream ip[,ip] to the resolvers nodedns should use`);
  }
  const stubs = names.filter((n) => RESOLVED_STUBS.includes(n));
  if (ctx.config.upstreams.length > 0) {
    return result(id, title, SEED, 'PASS',
      `--upstream ${ctx.config.upstreams.map(endpointText).join(', ')} is set; the host's ${file} (nameserver ${names.join(', ') || 'none'}) is not used for forwarding`);
  }
  const d = discover(ctx);
  if (d instanceof Error) {
    return result(id, title, SEED, 'FAIL', d.message.split('. ')[0],
      `point the host's resolv.conf at a resolver nodedns can reach (on a systemd-resolved host, mount /run/systemd/resolve too), or set --upstream ip[,ip]`);
  }
  const ups = d.upstreams.map((u) => u.host).join(', ');
  const own = d.skipped.filter((s) => s.reason.startsWith('one of nodedns')).map((s) => s.host);
  const ownText = own.length ? `; ${own.join(', ')} ${own.length === 1 ? 'is' : 'are'} nodedns itself (skipped)` : '';
  const evidence = stubs.length
    ? `${file} names the systemd-resolved stub ${stubs.join(', ')}; the real upstreams behind it (${d.source}): ${ups}${ownText}`
    : `${file}: nameserver ${ups}${ownText}`;
  const loopback = d.upstreams.filter((u) => u.host.startsWith('127.') || u.host === '::1').map((u) => u.host);
  if (d.warnings.some((w) => w.includes('cannot be read'))) {
    return result(id, title, SEED, 'WARN', `${evidence}; ${d.warnings.join('; ')}`,
      'mount the host\'s /run/systemd/resolve into the pod (hostPath) so nodedns reads the real upstreams instead of the stub', d.warnings);
  }
  if (loopback.length) {
    return result(id, title, SEED, 'WARN', `${evidence}; ${loopback.join(', ')} ${loopback.length === 1 ? 'is a loopback address' : 'are loopback addresses'}`,
      `nodedns (host network) can use a loopback resolver, but pods with dnsPolicy Default and the cluster DNS cannot reach it from their own network namespace; `
      + 'give the host (and kubelet\'s resolvConf) a resolver address that is routable from pods', d.warnings);
  }
  return result(id, title, SEED, 'PASS', evidence);
}

/** The servers nodedns forwards to outside the cluster domain, with the zone each serves. */
function forwardTargets(ctx: DoctorContext): { zone: string; ep: Endpoint; healthy?: boolean }[] | string {
  if (ctx.agent) {
    return ctx.agent.state.upstreams.filter((u) => u.kind !== 'cluster')
      .map((u) => ({ zone: u.zone, ep: parseEndpoint(u.address), healthy: u.healthy }));
  }
  const stubs = ctx.config.stubDomains.flatMap((s) => s.servers.map((ep) => ({ zone: s.domain || '.', ep })));
  if (ctx.config.stubDomains.some((s) => s.domain === '')) return stubs;
  if (ctx.config.upstreams.length > 0) return [...ctx.config.upstreams.map((ep) => ({ zone: '.', ep })), ...stubs];
  const d = discover(ctx);
  if (d instanceof Error) return d.message;
  return [...d.upstreams.map((ep) => ({ zone: '.', ep })), ...stubs];
}

export async function checkUpstreams(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'upstreams';
  const title = 'upstreams answer';
  const targets = forwardTargets(ctx);
  if (typeof targets === 'string') {
    return result(id, title, SEED, 'FAIL', `no upstream to ask: ${targets.split('. ')[0]}`, 'see host-resolv-conf: give nodedns a reachable resolver (host resolv.conf or --upstream)');
  }
  if (targets.length === 0) return result(id, title, SEED, 'FAIL', 'nodedns has no upstream for names outside the cluster domain', 'set --upstream ip[,ip] or fix the host resolv.conf');
  const answers = await Promise.all(targets.map(async (t) => {
    // ". NS" as the agent's own health probe asks; a stub domain's server is asked for its zone
    const a = await ask(t.ep, t.zone === '.' ? '.' : t.zone, t.zone === '.' ? 'NS' : 'SOA', { timeoutMs: ctx.timeoutMs });
    const rcode = a.summary?.rcode;
    // The agent counts any reply to its probe as alive (src/forward/upstream.ts): a resolver that
    // refuses ". NS" but that the agent reports healthy answers its clients' queries.
    const trusted = a.summary !== undefined && ctx.agent !== undefined && t.healthy === true;
    const ok = rcode === 'NOERROR' || rcode === 'NXDOMAIN' || trusted;
    const seen = ctx.agent && t.healthy === false ? ', marked down by the agent' : ok && trusted && rcode !== 'NOERROR' && rcode !== 'NXDOMAIN' ? ', healthy in the agent' : '';
    const what = a.summary ? `${rcode} in ${ms(a.ms)}` : `no answer (${a.error})`;
    return { ok, text: `${a.server}${t.zone === '.' ? '' : ` (zone ${t.zone})`} ${what}${seen}`, down: t.healthy === false };
  }));
  const good = answers.filter((a) => a.ok && !a.down);
  const evidence = answers.map((a) => a.text).join('; ');
  const fix = 'check that each failing server runs and that this node reaches it on port 53 (UDP and TCP: firewall, routes, its ACL for this node); '
    + 'or give nodedns resolvers that answer (--upstream, or the host resolv.conf)';
  if (good.length === answers.length) return result(id, title, SEED, 'PASS', evidence);
  if (good.length === 0) return result(id, title, SEED, 'FAIL', evidence, fix);
  return result(id, title, SEED, 'WARN', evidence, fix);
}

export async function checkLoop(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'loop';
  const title = 'no forwarding loop back to nodedns';
  if (!ctx.agent) {
    return result(id, title, SEED, 'SKIP', `needs the running agent, which sees the probe come back (${ctx.noAgent})`,
      'run doctor where the agent runs: kubectl -n kube-system exec ds/nodedns -- nodedns doctor');
  }
  let report;
  try {
    report = await ctx.agent.client.loopCheck(ctx.timeoutMs);
  } catch (e) {
    return result(id, title, SEED, 'WARN', `the agent could not run the loop check: ${(e as Error).message}`, 'see the agent\'s log');
  }
  const loops = report.results.filter((r) => r.loop);
  const ips = ctx.config.localIps.join(', ');
  if (loops.length > 0) {
    const l = loops[0];
    return result(id, title, SEED, 'FAIL',
      `a query for ${l.name} sent to ${l.server} (zone ${l.zone}) came back to nodedns from ${l.cameBackFrom}: ${l.server} forwards to nodedns, which forwards to ${l.server}`,
      `make ${l.server} forward to a real resolver instead of nodedns (${ips}), or give nodedns other upstreams (--upstream, or the host resolv.conf). `
      + 'Typical cause: a host resolver (dnsmasq, systemd-resolved, a VPC resolver rule) whose upstream is nodedns\' own address. Until then every cache miss in that zone ends in SERVFAIL',
      loops.length > 1 ? loops.map((x) => `${x.server} (zone ${x.zone}): probe came back from ${x.cameBackFrom}`) : undefined);
  }
  const unanswered = report.results.filter((r) => r.answer.startsWith('no answer'));
  const evidence = `${report.results.length} server(s) probed (${report.results.map((r) => r.server).join(', ')}); none sent the probe back to nodedns`;
  if (unanswered.length === report.results.length && report.results.length > 0) {
    return result(id, title, SEED, 'WARN', `${evidence}, but none answered it either (${unanswered[0].answer})`, 'see upstreams: a server that does not answer cannot be checked for loops');
  }
  return result(id, title, SEED, 'PASS', evidence);
}

/** Which steering holds the pods' DNS: the kernel (socket match), nodedns' own rule changes, or none. */
export async function checkSteering(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'steering';
  const title = 'who sends pods\' DNS to nodedns or to the fallback';
  if (ctx.config.firewall === 'none') {
    return result(id, title, '002', 'SKIP', '--firewall none: nodedns installs no steering rules', 'nothing, if the node\'s rules are managed some other way');
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return result(id, title, '002', 'SKIP', 'reading the firewall rules needs root', 'run doctor as root (or in the nodedns pod)');
  }
  const live = await Firewall.liveSteering();
  const say = live.map((l) => `${l.backend}: ${l.steering}`).join(', ');
  if (live.length === 0 || live.every((l) => l.steering === 'off')) {
    return result(id, title, '002', 'WARN', live.length === 0 ? 'no nodedns NOTRACK rules on this node: pods\' DNS goes to the fallback (or nowhere, without nodedns\' rules)' : `NOTRACK chains empty (${say}): nodedns is not serving, the fallback takes pods' DNS`,
      'start nodedns (the DaemonSet); it installs the rules once its sockets are bound');
  }
  if (live.some((l) => l.steering === 'managed')) {
    return result(id, title, '002', 'WARN', `managed steering (${say}): NOTRACK is added and removed by nodedns itself, so if every nodedns process is killed at once (OOM kill of the pod, grace period 0) pods' queries meet a closed socket until nodedns runs again`,
      'if nodedns runs with --steering managed, remove that flag; otherwise the kernel lacks the socket match (the agent\'s log says so at start): '
      + 'load xt_socket (iptables) or nft_socket (nftables) and restart nodedns');
  }
  return result(id, title, '002', 'PASS', `kernel-held steering (${say}): pods' queries reach nodedns while its socket is bound and the fallback the moment none is, with no nodedns process involved; `
    + 'the node\'s own queries (hostNetwork pods) use a NOTRACK rule nodedns manages: if every nodedns process dies they get port unreachable until it runs again');
}
