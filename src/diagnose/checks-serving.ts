// Doctor checks on nodedns itself: its listeners, the node setup that steers DNS to it
// (seed 002), its readiness, and the cluster DNS behind it (seed 004).
import { get } from 'node:http';
import type { Endpoint } from '../config/types';
import { listenAddrParts } from '../config/values';
import { ask, endpointOf } from './ask';
import { result, type CheckResult, type DoctorContext } from './doctor-types';
import { ms } from './render';

/** Who answers on ip:port: nodedns says so to version.bind CH TXT (src/observe/introspection.ts). */
async function whoAnswers(ip: string, port: number, tcp: boolean, timeoutMs: number): Promise<{ ok: boolean; text: string }> {
  const where = `${endpointOf(ip, port).family === 6 ? `[${ip}]` : ip}:${port}/${tcp ? 'tcp' : 'udp'}`;
  const id = await ask(endpointOf(ip, port), 'version.bind', 'TXT', { tcp, timeoutMs, cls: 'CH' });
  if (!id.summary) return { ok: false, text: `${where} no answer (${id.error})` };
  const txt = id.summary.answers.find((a) => a.type === 'TXT')?.data.replace(/^"|"$/g, '');
  if (txt?.startsWith('nodedns')) return { ok: true, text: `${where} ${txt} in ${ms(id.ms)}` };
  if (txt) return { ok: false, text: `${where} answered by "${txt}", not nodedns` };
  // no CHAOS identity: nodedns answers localhost. itself, whatever its upstreams do
  const lh = await ask(endpointOf(ip, port), 'localhost.', 'A', { tcp, timeoutMs });
  if (lh.summary?.rcode === 'NOERROR' && lh.summary.addresses.includes('127.0.0.1')) return { ok: true, text: `${where} answered in ${ms(lh.ms)}` };
  return { ok: false, text: `${where} ${lh.summary ? `answered ${lh.summary.rcode} to localhost.` : `no answer (${lh.error})`}` };
}

export async function checkListening(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'listening';
  const title = 'nodedns answers on every local address, UDP and TCP';
  const c = ctx.config;
  const res = await Promise.all(c.localIps.flatMap((ip) => [false, true].map((tcp) => whoAnswers(ip, c.port, tcp, ctx.timeoutMs))));
  const bad = res.filter((r) => !r.ok);
  if (bad.length === 0) return result(id, title, '002', 'PASS', res.map((r) => r.text).join('; '));
  const other = bad.some((r) => r.text.includes('not nodedns'));
  const fix = other
    ? 'queries to nodedns\' address reach another server: see node-setup (without NOTRACK the fallback DNAT sends them to the cluster DNS), '
      + 'and check that no other DNS server holds the address'
    : 'is nodedns running on this node (kubectl -n kube-system get pods -o wide | grep nodedns)? Its log says why it could not bind. '
      + `With --setup-interface it adds ${c.localIps.join(', ')} to ${c.interfaceName} itself; without it, the address must already be on the node`;
  return result(id, title, '002', 'FAIL', bad.map((r) => r.text).join('; '), fix, res.map((r) => r.text));
}

export async function checkNodeSetup(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'node-setup';
  const title = 'node setup: local addresses, NOTRACK and fallback rules';
  const c = ctx.config;
  if (!c.setupInterface && c.firewall === 'none') {
    return result(id, title, '002', 'SKIP', 'node setup is off (--no-setup-interface, --firewall none): something else must put the addresses on the node and keep conntrack off DNS',
      'nothing, if that is deliberate; otherwise run the agent with --setup-interface and --firewall auto');
  }
  if (c.firewall !== 'none' && typeof process.getuid === 'function' && process.getuid() !== 0) {
    return result(id, title, '002', 'SKIP', 'reading the firewall rules needs root', 'run doctor as root (or in the nodedns pod)');
  }
  const n = await ctx.inspectNode(c);
  const problems: string[] = [];
  const seen: string[] = [];
  if (n.addresses) {
    if (n.addresses.error) problems.push(`cannot read the addresses over netlink: ${n.addresses.error}`);
    else if (n.addresses.missing.length) problems.push(`${n.addresses.missing.join(', ')} not on any interface`);
    else seen.push(`${c.localIps.join(', ')} on ${n.addresses.link}${n.addresses.down ? ' (link down)' : ''}`);
    if (n.addresses.down) problems.push(`${n.addresses.link} is down`);
  }
  if (n.firewall) {
    if (n.firewall.error) problems.push(`cannot read the ${n.firewall.backend} rules: ${n.firewall.error}`);
    else if (n.firewall.missing.length) problems.push(`${n.firewall.missing.join(', ')} rules missing or different (${n.firewall.backend})`);
    else seen.push(`NOTRACK, accept and fallback rules in place (${n.firewall.backend})`);
    if (!n.firewall.error && n.firewall.fallback.length) seen.push(`fallback: ${n.firewall.fallback.join('; ')}`);
    else if (!n.firewall.error) problems.push('no fallback: no cluster DNS address is known (--cluster-dns), so DNS stops when nodedns does');
  }
  if (problems.length === 0) return result(id, title, '002', 'PASS', seen.join('; '));
  const noFallback = problems.filter((p) => p.startsWith('no fallback'));
  const fixes: string[] = [];
  if (noFallback.length) {
    // the rules are not broken: nodedns cannot write a fallback without knowing where to send pods
    fixes.push('give nodedns the cluster DNS address, so that its fallback rules send pods there while it is down: '
      + '--cluster-dns <kube-dns Service IP> (kubectl -n kube-system get svc kube-dns), or KUBE_DNS_UPSTREAM_SERVICE_HOST, or --kube-api');
  }
  if (problems.length > noFallback.length) {
    const notrack = n.firewall?.missing.includes('notrack');
    fixes.push((notrack ? 'without NOTRACK, conntrack and the fallback DNAT send pods\' queries to the cluster DNS instead of nodedns. ' : '')
      + `nodedns repairs its setup every --sync-interval (${c.syncIntervalMs / 1000}s) while it runs: if this stays, its log says what fails `
      + '(root, CAP_NET_ADMIN, hostNetwork), or another program (a firewall manager) keeps removing the rules');
  }
  return result(id, title, '002', 'FAIL', [...problems, ...seen].join('; '), fixes.join('; also '));
}

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 8192) body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function readyUrl(healthAddr: string): string {
  const { host, port } = listenAddrParts(healthAddr);
  return `http://${host.includes(':') ? `[${host}]` : host || '127.0.0.1'}:${port}/ready`;
}

/** /ready on --health-addr: the supervisor's view (every worker, and the node setup). */
async function healthReady(ctx: DoctorContext): Promise<{ ok: boolean; text: string; missing: string[] } | undefined> {
  if (!ctx.config.healthAddr) return undefined;
  const url = readyUrl(ctx.config.healthAddr);
  try {
    const r = await httpGet(url, ctx.timeoutMs);
    const missing = r.body.split('\n').filter((l) => l.startsWith('- ')).map((l) => l.slice(2));
    return { ok: r.status === 200, text: `${url}: ${r.status === 200 ? r.body.trim() : `${r.status} ${missing.join('; ') || r.body.trim()}`}`, missing };
  } catch (e) {
    return { ok: false, text: `${url}: ${(e as Error).message}`, missing: [] };
  }
}

export async function checkReadiness(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'readiness';
  const title = 'nodedns is ready';
  const fix = 'see the missing items: each names the zone or part that is not ready; the upstreams, cluster-dns and node-setup checks say why';
  const health = await healthReady(ctx);
  if (ctx.agent) {
    const r = ctx.agent.state.readiness;
    const parts = [`agent pid ${ctx.agent.state.pid}: ${r.ready ? 'ready (listeners bound, every zone has a healthy server)' : `not ready: ${r.missing.join('; ')}`}`];
    if (health) parts.push(health.text);
    const ok = r.ready && (health?.ok ?? true);
    return result(id, title, '004', ok ? 'PASS' : 'FAIL', parts.join('; '), fix, [...r.missing, ...(health?.missing ?? [])]);
  }
  if (!health) {
    return result(id, title, '004', 'FAIL', `no running agent answers (${ctx.noAgent}) and --health-addr is off`,
      'start nodedns on this node, or pass the same --control-socket / --health-addr as the agent');
  }
  if (health.ok) return result(id, title, '004', 'PASS', `${health.text} (control socket: ${ctx.noAgent})`);
  return result(id, title, '004', 'FAIL', `no running agent on the control socket (${ctx.noAgent}); ${health.text}`,
    health.missing.length ? fix : 'start nodedns on this node (kubectl -n kube-system get ds), or pass the same --control-socket / --health-addr as the agent',
    health.missing);
}

export async function checkClusterDns(ctx: DoctorContext): Promise<CheckResult> {
  const id = 'cluster-dns';
  const title = 'the cluster DNS answers kubernetes.default';
  const cfg = ctx.agent?.state.config ?? ctx.config;
  const kubeletDomain = ctx.kubelet.clusterDomain;
  const domain = cfg.clusterDomain;
  const name = `kubernetes.default.svc.${kubeletDomain ?? domain}`;
  if (kubeletDomain !== undefined && kubeletDomain !== domain) {
    return result(id, title, '004', 'FAIL',
      `kubelet's clusterDomain is ${kubeletDomain} (${ctx.kubelet.clusterDomainFrom}) but nodedns forwards ${domain} to the cluster DNS: pods' cluster names go to the host's upstreams`,
      `run nodedns with --cluster-domain ${kubeletDomain}`);
  }
  const servers: Endpoint[] = cfg.clusterDns;
  if (servers.length === 0) {
    return result(id, title, '004', 'FAIL', 'no cluster DNS address is known, so cluster names cannot be answered',
      'set --cluster-dns to the kube-dns Service IP, or KUBE_DNS_UPSTREAM_SERVICE_HOST, or enable --kube-api');
  }
  const direct = await Promise.all(servers.map((ep) => ask(ep, name, 'A', { timeoutMs: ctx.timeoutMs })));
  const via = await ask(endpointOf(cfg.localIps[0], cfg.port), name, 'A', { timeoutMs: Math.max(ctx.timeoutMs, cfg.queryTimeoutMs + 500) });
  const text = (a: typeof via) => (a.summary ? (a.summary.addresses.length ? `A ${a.summary.addresses.join(', ')}` : a.summary.rcode) : `no answer (${a.error})`) + ` in ${ms(a.ms)}`;
  const okDirect = direct.filter((a) => a.summary?.rcode === 'NOERROR' && a.summary.addresses.length > 0);
  const okVia = via.summary?.rcode === 'NOERROR' && via.summary.addresses.length > 0;
  const evidence = `${name}: ${direct.map((a) => `${a.server} ${text(a)}`).join('; ')}; through nodedns (${via.server}) ${text(via)}`;
  if (okDirect.length === direct.length && okVia) return result(id, title, '004', 'PASS', evidence);
  if (okDirect.length === 0) {
    return result(id, title, '004', 'FAIL', evidence,
      `the cluster DNS does not answer from this node: check the kube-dns Service and its endpoints (kubectl -n kube-system get endpoints kube-dns) `
      + `and kube-proxy's rules for ${servers.map((s) => s.host).join(', ')} on this node`);
  }
  if (!okVia) {
    return result(id, title, '004', 'FAIL', evidence,
      `the cluster DNS answers but not through nodedns: see readiness and listening; nodedns sends ${domain} to ${servers.map((s) => s.host).join(', ')}`);
  }
  return result(id, title, '004', 'WARN', evidence, 'some cluster DNS addresses do not answer; nodedns fails over, but check those endpoints');
}
