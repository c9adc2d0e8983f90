// One serving process: listeners, local answers, cache, routing, upstreams, and
// live reconfiguration. Node setup and supervision live outside (src/node/).
import * as dnsPacket from 'dns-packet';
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { AnswerCache } from '../cache/answer-cache';
import { LogSampler } from '../forward/log-sample';
import { loadCache, saveCache } from '../cache/persist';
import { finish } from '../config/load';
import { ConfigError, type Config, type Endpoint } from '../config/types';
import { discoverUpstreams, HOST_RESOLV, RESOLVED_RESOLV, type Discovery } from '../config/upstreams';
import type { UpstreamPool } from '../forward/pool';
import { Stats } from '../observe/stats';
import { scanQuery, questionName, Special, Verdict } from '../wire/query';
import { CLASS, HEADER_LEN } from '../wire/constants';
import { localReverseZone } from '../wire/local-zones';
import { render } from '../cache/render';
import { Handler } from './handler';
import { PodTable, type PodsSnapshot } from '../pods/table';
import { clockNow } from '../cache/clock';
import { LocalAnswers } from './local';
import { Resolver, resolverLimits } from './resolver';
import { sizeUpstreamSockets } from '../forward/sockets';
import type { RouteKind, Router } from './router';
import { buildRouter } from './routes';
import { TcpListener, tcpLimits } from './tcp';
import { UdpListener } from './udp';
import { join } from 'node:path';

export interface UpstreamSource {
  upstreams: Endpoint[];
  source: string; // "--upstream", a file path, or "kube-dns ConfigMap"
  discovery?: Discovery;
}

/** How a diagnostic query asks: over UDP at this size (512 and no EDNS, as glibc and musl do), or unlimited. */
export interface DebugClient {
  udpSize?: number;
  edns?: boolean;
}

export interface DebugResult {
  zone: string;
  routeKind: RouteKind | 'local';
  cache: 'hit' | 'miss' | 'stale' | 'local';
  upstream?: string;
  latencyMs: number;
  error?: string;
  response: Buffer;
}

/** Settings that need new sockets or new processes: refused on a live reload. */
const RESTART_ONLY: (keyof Config)[] = ['localIps', 'port', 'workers', 'interfaceName', 'setupInterface', 'firewall', 'hostRoot', 'metricsAddr', 'healthAddr', 'controlSocket'];

export class Agent {
  readonly cache: AnswerCache;
  readonly handler: Handler;
  private readonly resolver: Resolver;
  private pools: UpstreamPool[] = [];
  private udp: UdpListener[] = [];
  private tcp: TcpListener[] = [];
  private bound = false;
  private watchTimer: NodeJS.Timeout | undefined;
  private fileStamp = '';
  hostUpstreams: UpstreamSource;

  private constructor(public config: Config, readonly log: Logger, readonly stats: Stats) {
    this.hostUpstreams = this.discover(config);
    this.cache = new AnswerCache(config.cache, stats);
    const { router, pools } = buildRouter(config, this.hostUpstreams.upstreams, [], stats, log);
    this.pools = pools;
    this.resolver = new Resolver(this.cache, router, resolverLimits(config), stats, log);
    this.handler = new Handler(this.cache, this.resolver, new LocalAnswers(config.hosts), stats);
    this.setWaitingLimits(config);
    const refusals = new LogSampler();
    this.handler.onRefused = (client, perClient) => {
      const skipped = refusals.take(perClient ? client : '');
      if (skipped === undefined) return;
      const w = this.handler.waiting;
      if (perClient) {
        log.warn({ client, waiting: w.maxPerClient, skipped }, `a client has --max-waiting-per-client (${w.maxPerClient}) queries waiting on upstream answers; its further misses get SERVFAIL. A pod asking many names at once, or one slow name over and over: find it with "nodedns top" or the query log`);
      } else {
        log.warn({ waiting: w.total, clients: w.clients, skipped }, `--max-waiting (${w.max}) clients are waiting on upstream answers; further misses get SERVFAIL. Upstreams are slow or many clients miss at once: check "nodedns doctor", or raise --max-waiting`);
      }
    };
    this.handler.onError = (e) => log.error({ err: e.stack ?? e.message }, 'unexpected error answering a query (answered SERVFAIL); please report it');
  }

  static async start(opts: { config: Config; log: Logger; stats?: Stats }): Promise<Agent> {
    const a = new Agent(opts.config, opts.log, opts.stats ?? new Stats());
    await a.bind();
    return a;
  }

  /**
   * Binds the listeners of an agent made with offline() (whose construction validated the
   * configuration): node setup puts the addresses in place in between. A failed bind
   * closes whatever bound and throws.
   */
  async bind(): Promise<void> {
    sizeUpstreamSockets({ fdReserve: this.config.fdReserve, clientConnections: this.config.tcpMaxConnections * this.config.localIps.length }, this.log);
    if (this.config.cache.file) loadCache(this.cache, this.config.cache.file, clockNow(), this.log, (name) => this.router.route(name).policy);
    try {
      await this.listen();
    } catch (e) {
      await this.stop(false);
      throw e;
    }
    this.watchHostFiles();
  }

  /** Routing, cache and upstreams without sockets: `nodedns explain`/`query` when no agent runs. Stop it with stop(false). */
  static offline(opts: { config: Config; log: Logger; stats?: Stats }): Agent {
    return new Agent(opts.config, opts.log, opts.stats ?? new Stats());
  }

  get router(): Router {
    return this.resolver.router;
  }

  private discover(c: Config): UpstreamSource {
    if (c.upstreams.length > 0) return { upstreams: c.upstreams, source: '--upstream' };
    const d = discoverUpstreams(c.hostRoot, c.localIps);
    for (const w of d.warnings) this.log.warn({ source: d.source }, w);
    return { upstreams: d.upstreams, source: d.source, discovery: d };
  }

  private async listen(): Promise<void> {
    const h = () => this.handler;
    const limits = tcpLimits(this.config);
    for (const ip of this.config.localIps) {
      const u = new UdpListener(ip, this.config.port, h);
      await u.start();
      this.udp.push(u);
      const t = new TcpListener(ip, this.config.port, h, limits, this.stats);
      await t.start();
      this.tcp.push(t);
    }
    this.bound = true;
  }

  private setWaitingLimits(c: Config): void {
    this.handler.waiting.max = c.maxWaiting;
    this.handler.waiting.maxPerClient = c.maxWaitingPerClient;
  }

  /** Applies a new configuration atomically: all of it, or none of it (ConfigError). */
  reconfigure(next: Config): void {
    finish(next);
    for (const k of RESTART_ONLY) {
      if (JSON.stringify(next[k]) !== JSON.stringify(this.config[k])) {
        throw new ConfigError(`${String(k)} cannot change while nodedns runs; restart it (a rolling restart of the DaemonSet) to apply`);
      }
    }
    const upstreams = this.discover(next); // throws ConfigError when nothing usable remains
    const { router, pools } = buildRouter(next, upstreams.upstreams, this.pools, this.stats, this.log);
    const local = new LocalAnswers(next.hosts);
    // Everything above can fail; nothing below can.
    this.hostUpstreams = upstreams;
    this.pools = pools;
    this.resolver.router = router;
    this.resolver.limits = resolverLimits(next);
    this.setWaitingLimits(next);
    this.handler.local = local;
    this.cache.reconfigure(next.cache);
    for (const t of this.tcp) t.limits = tcpLimits(next);
    this.config = next;
    this.stats.configReloads.ok++;
  }

  /** This node's pods, from the API (src/kube/pods-watch.ts); their counters carry over. */
  setPods(s: PodsSnapshot): void {
    const first = this.handler.pods === undefined;
    this.handler.pods = new PodTable(s, this.handler.pods);
    if (first) this.log.info({ pods: this.handler.pods.views.length, completion: s.completion }, 'pods of this node known');
  }

  setClusterDns(eps: Endpoint[], source: string): void {
    if (JSON.stringify(eps) === JSON.stringify(this.config.clusterDns)) return;
    this.reconfigure({ ...this.config, clusterDns: eps });
    this.log.info({ clusterDns: eps.map((e) => `${e.host}:${e.port}`), source }, 'cluster DNS address changed');
  }

  /** Re-reads the host's resolv.conf files when they change (only when upstreams are discovered). */
  private watchHostFiles(): void {
    const files = [join(this.config.hostRoot, HOST_RESOLV), join(this.config.hostRoot, RESOLVED_RESOLV)];
    const stamp = () => files.map((f) => { try { const s = statSync(f); return `${s.ino}:${s.mtimeMs}:${s.size}`; } catch { return '-'; } }).join('|');
    this.fileStamp = stamp();
    this.watchTimer = setInterval(() => {
      if (this.config.upstreams.length > 0) return;
      const now = stamp();
      if (now === this.fileStamp) return;
      this.fileStamp = now;
      const before = this.hostUpstreams.upstreams.map((e) => `${e.host}:${e.port}`).join(',');
      try {
        this.reconfigure({ ...this.config });
        const after = this.hostUpstreams.upstreams.map((e) => `${e.host}:${e.port}`).join(',');
        if (after !== before) this.log.info({ upstreams: after.split(','), source: this.hostUpstreams.source }, 'host resolv.conf changed; new upstreams in use');
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'host resolv.conf changed but has no usable upstream; keeping the previous upstreams');
      }
    }, 2000);
    this.watchTimer.unref();
  }

  readiness(): { ready: boolean; missing: string[] } {
    const missing: string[] = [];
    if (!this.bound) missing.push('listeners not bound');
    const seen = new Set<UpstreamPool>();
    for (const r of this.router.routes) {
      if (seen.has(r.pool)) continue;
      seen.add(r.pool);
      const zone = r.zone || '.';
      if (r.pool.upstreams.length === 0) missing.push(`no servers for zone ${zone}${r.kind === 'cluster' ? ' (set --cluster-dns or enable --kube-api)' : ''}`);
      else if (!r.pool.upstreams.some((u) => u.healthy)) missing.push(`every upstream of zone ${zone} is down (${r.pool.describe()})`);
    }
    return { ready: missing.length === 0, missing };
  }

  upstreamStatus(): { zone: string; kind: RouteKind; address: string; healthy: boolean; rttMs: number; queries: number; failures: number }[] {
    const out = [];
    const seen = new Set<UpstreamPool>();
    for (const r of this.router.routes) {
      if (seen.has(r.pool)) continue;
      seen.add(r.pool);
      for (const u of r.pool.upstreams) {
        out.push({ zone: r.zone || '.', kind: r.kind, address: u.address, healthy: u.healthy, rttMs: Math.round(u.stats.rttMs * 100) / 100, queries: u.stats.queries, failures: u.stats.failures });
      }
    }
    return out;
  }

  /**
   * One query through this agent's routing and cache, with what happened to it. `client` is the
   * asking library's UDP size and EDNS (explain's resolver models), so the reply is cut and TC set
   * as that client would see it; the default is EDNS 1232 with no size limit.
   */
  async debugQuery(name: string, type: string, client: DebugClient = {}): Promise<DebugResult> {
    const maxSize = client.udpSize ?? 65535;
    const query = dnsPacket.encode({
      type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: name.replace(/\.$/, ''), type: type.toUpperCase() as dnsPacket.RecordType, class: 'IN' }],
      additionals: client.edns === false ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: client.udpSize ?? 1232 } as dnsPacket.Answer],
    });
    const q = scanQuery(query);
    if (q.verdict !== Verdict.OK) throw new Error(`cannot build a query for ${name} ${type}`);
    const started = performance.now();
    const lname = questionName(query, q.qnameEnd);
    const now = clockNow();
    const hostEntry = this.handler.local.host(q.key);
    if (q.special !== Special.NONE || (q.qclass !== CLASS.IN && !q.classAny) || hostEntry) {
      const e = hostEntry ?? this.handler.local.special(lname, q.qtype, q.special);
      e.storedAt = now;
      return { zone: q.special === Special.INVALID ? 'invalid' : q.special === Special.REVERSE ? localReverseZone(lname)! : hostEntry ? 'hosts' : 'localhost', routeKind: 'local', cache: 'local', latencyMs: performance.now() - started, response: render(e, query, q, now, maxSize) };
    }
    const route = this.router.route(lname);
    const fresh = this.cache.fresh(q.key, now);
    if (fresh) {
      return { zone: route.zone || '.', routeKind: route.kind, cache: 'hit', latencyMs: performance.now() - started, response: render(fresh, query, q, now, maxSize) };
    }
    const o = await this.resolver.resolveAsync(q.key, query.subarray(HEADER_LEN, q.questionEnd), lname, q.cd, q.dnssecOk);
    return {
      zone: o.route.zone || '.', routeKind: o.route.kind, cache: o.stale ? 'stale' : 'miss', upstream: o.upstream,
      latencyMs: performance.now() - started, error: o.error, response: render(o.entry, query, q, clockNow(), maxSize, o.stale),
    };
  }

  /** Waits until no query is waiting upstream, or `ms` passes. */
  async drain(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.resolver.inflightCount > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(saveFile = true): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    await Promise.all([...this.udp, ...this.tcp].map((l) => l.close()));
    this.udp = [];
    this.tcp = [];
    this.bound = false;
    for (const p of this.pools) p.close();
    this.handler.close();
    if (saveFile && this.config.cache.file) {
      try {
        const n = saveCache(this.cache, this.config.cache.file, clockNow());
        this.log.info({ path: this.config.cache.file, entries: n }, 'cache written for the next start');
      } catch (e) {
        this.log.warn({ path: this.config.cache.file, err: (e as Error).message }, 'could not write the cache file; the next start begins cold. Check that its directory exists and is writable');
      }
    }
  }
}
