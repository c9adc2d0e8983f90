// Turns what the agent knows about its upstreams into Events an operator sees on the
// Node: every upstream of a zone down, and forwarding loops. Polled, so the hot path
// never waits on the API.
import type { Stats } from '../observe/stats';
import { REASONS, type NodeEvents } from './events';

export interface ObservedAgent {
  readiness(): { ready: boolean; missing: string[] };
  readonly stats: Stats;
}

export function startConditionWatch(agent: ObservedAgent, events: NodeEvents, intervalMs: number): () => void {
  let loops = agent.stats.loopsDetected;
  const check = () => {
    for (const m of agent.readiness().missing) {
      if (m.startsWith('every upstream') || m.startsWith('no servers')) {
        events.report(REASONS.noUpstream, `nodedns has no usable upstream: ${m}; queries for that zone get SERVFAIL (or stale answers)`);
      }
    }
    const now = agent.stats.loopsDetected;
    if (now > loops) {
      events.report(REASONS.loop, `an upstream sent nodedns' own queries back to it (${now - loops} times): a forwarding loop. `
        + 'Check that no upstream or stub domain server forwards to this node\'s nodedns address');
    }
    loops = now;
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
