// The Kubernetes integration under test: a real Agent in this process serving on a free
// loopback address, the integration pointed at an in-test API server through a kubeconfig,
// logs captured, and everything stopped by the test's cleanup list.
import pino from 'pino';
import { loadConfig } from '../../src/config/load';
import { startKubeIntegration, type KubeIntegration } from '../../src/kube/integration';
import { Agent } from '../../src/serve/agent';
import { query } from './dns-query';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver';
import { startFaultServer, type FaultServer } from './fault-server';
import { freeEndpoint, hostPort, type Endpoint } from './ports';
import { PATIENCE_MS, waitUntil } from './process';

export type LogLine = Record<string, unknown> & { msg?: string; level: number };
export type Cleanups = (() => Promise<void> | void)[];

export interface KubeRig {
  api: FakeApiServer;
  agent: Agent;
  kube: KubeIntegration;
  ep: Endpoint;
  logs: LogLine[];
}

/** A DNS server that answers every A query with `ip`, so each server is recognisable by its answers. */
export async function answeringServer(cleanups: Cleanups, ip: string, o: { address?: string; port?: number } = {}): Promise<FaultServer> {
  const s = await startFaultServer({
    ...o,
    handler: (q) => ({ rcode: 'NOERROR', answers: [{ name: q.name, type: 'A', ttl: 5, data: ip }] }),
  });
  cleanups.push(() => s.stop());
  return s;
}

export interface KubeRigOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  api?: FakeApiServer; // default: a new one
  token?: string;
  /** replaces the default --upstream (a server answering 192.0.2.99) */
  upstreamArgs?: string[];
}

export async function startKubeRig(cleanups: Cleanups, o: KubeRigOptions = {}): Promise<KubeRig> {
  const api = o.api ?? (await startFakeApiServer({ token: o.token }));
  if (!o.api) cleanups.push(() => api.close());
  const upstreamArgs = o.upstreamArgs ?? ['--upstream', hostPort(await answeringServer(cleanups, '192.0.2.99'))];
  const ep = await freeEndpoint();
  const env = o.env ?? {};
  const { config } = loadConfig([
    '--local-ip', ep.address, '--port', String(ep.port), ...upstreamArgs,
    '--no-setup-interface', '--firewall', 'none', '--metrics-addr', '', '--health-addr', '', '--control-socket', '',
    '--kubeconfig', api.kubeconfig, '--node-name', 'node-a', ...(o.args ?? []),
  ], env);
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s) as LogLine); } });
  const agent = await Agent.start({ config, log });
  cleanups.push(() => agent.stop(false));
  const kube = startKubeIntegration({ config, log, agent, env, conditionIntervalMs: 100, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => kube.stop());
  return { api, agent, kube, ep, logs };
}

let n = 0;
/** The A record (or the rcode) the agent gives for a fresh name under `zone` (fresh, so the cache never answers). */
export async function answer(r: KubeRig, zone: string): Promise<string> {
  const reply = await query(r.ep, `q${++n}.${zone}`, 'A', { timeoutMs: 2000 });
  const a = reply.answers?.find((x) => x.type === 'A');
  return a ? String((a as { data?: unknown }).data) : reply.rcode;
}

export async function answersFrom(r: KubeRig, zone: string, ip: string, what = `${zone} answered with ${ip}`): Promise<void> {
  await waitUntil(what, async () => ((await answer(r, zone)) === ip ? true : undefined), PATIENCE_MS, 30);
}
