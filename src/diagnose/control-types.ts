// What the control socket answers: shared by the server (in the agent) and the clients.
import type { Config } from '../config/types';
import type { RouteKind } from '../serve/router';
import type { MessageSummary } from './message';
import type { LoopResult } from './loop-probe';

export interface AgentState {
  pid: number;
  version: string;
  startedAt: string;
  config: Config;
  upstreamSource: { source: string; filesRead?: string[]; skipped?: { host: string; reason: string }[]; warnings?: string[] };
  routes: { zone: string; kind: RouteKind; servers: string[] }[];
  upstreams: { zone: string; kind: RouteKind; address: string; healthy: boolean; rttMs: number; queries: number; failures: number }[];
  readiness: { ready: boolean; missing: string[] };
  cache: { positive: number; negative: number };
  counters: Record<string, unknown>;
}

export interface QueryReport {
  name: string;
  type: string;
  zone: string; // '.' for the root
  routeKind: RouteKind | 'local';
  cache: 'hit' | 'miss' | 'stale' | 'local';
  upstream?: string;
  latencyMs: number;
  error?: string;
  response: string; // base64 wire bytes
  summary: MessageSummary;
}

export interface LoopReport {
  results: LoopResult[];
}
