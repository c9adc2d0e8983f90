// Runs the loop check (src/diagnose/loop-probe.ts) from the serving process: shortly
// after start and then every --loop-check-interval. A loop cannot storm (the returning
// query joins the one in flight), but every name of that zone fails: say so loudly.
import type { Logger } from 'pino';
import { checkLoops } from '../diagnose/loop-probe';
import type { Agent } from '../serve/agent';

export function watchLoops(agent: Agent, log: Logger, onLoop: (message: string) => void = () => {}): () => void {
  const every = agent.config.loopCheckIntervalMs;
  if (every <= 0) return () => {};
  const run = async () => {
    for (const r of await checkLoops(agent)) {
      if (!r.loop) continue;
      agent.stats.loopsDetected++;
      const message = `upstream ${r.server} (zone ${r.zone}) sends queries back to nodedns (a probe came back from ${r.cameBackFrom}), so names in that zone fail. Point ${r.server} at a real resolver instead of nodedns, or give nodedns other upstreams`;
      log.error({ upstream: r.server, zone: r.zone, cameBackFrom: r.cameBackFrom }, message);
      onLoop(message);
    }
  };
  const safeRun = () => { run().catch((e: Error) => log.warn({ err: e.message }, 'loop check failed')); };
  const first = setTimeout(safeRun, 2000);
  const timer = setInterval(safeRun, every);
  first.unref();
  timer.unref();
  return () => { clearTimeout(first); clearInterval(timer); };
}
