// One serving worker under the supervisor: starts the Agent, says when it is ready,
// and stops only when the supervisor says so (after NOTRACK is gone), so no query
// reaches a closed socket on a clean stop.
import { spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { Agent } from '../serve/agent';
import type { PrimaryMessage, WorkerMessage } from './supervisor';

function send(m: WorkerMessage): void {
  if (process.connected && process.send) process.send(m);
}

/**
 * `onStarted` runs once the agent serves; what it returns (if anything) runs when the
 * worker stops, before the agent drains.
 */
export async function runWorker(config: Config, log: Logger, onStarted: (a: Agent) => (() => Promise<void>) | void = () => {}): Promise<number> {
  // If memory runs out, the kernel should kill a worker (which is restarted behind the
  // fallback), never the supervisor that owns the rules.
  try { writeFileSync('/proc/self/oom_score_adj', '1000'); } catch { /* not Linux, or not allowed */ }

  let notrackOff: Extract<PrimaryMessage, { type: 'notrack-off' }>['commands'] = [];
  let agent: Agent | undefined;
  let cleanup: (() => Promise<void>) | void;
  let stopping = false;

  cluster.worker?.on('disconnect', () => {
    if (stopping) return;
    // The supervisor is gone without a clean stop (killed). Nobody else will remove the
    // NOTRACK rules, and this worker is about to exit: hand DNS to the fallback now.
    // Synchronous on purpose: cluster exits the process right after this event.
    for (const c of notrackOff) spawnSync(c.cmd, c.args, { input: c.input, timeout: 5000, stdio: ['pipe', 'ignore', 'ignore'] });
    log.error(`the supervisor process is gone; ${notrackOff.length > 0 ? 'removed the NOTRACK rules so the fallback serves DNS, and ' : ''}exiting`);
  });

  const stop = async (m: Extract<PrimaryMessage, { type: 'stop' }>) => {
    if (stopping) return;
    stopping = true;
    // packets that arrived before NOTRACK went away may still sit in the socket buffer
    await new Promise((r) => setTimeout(r, m.settleMs));
    if (cleanup) await cleanup().catch((e: Error) => log.warn({ err: e.message }, 'cleanup before stopping failed'));
    if (agent) {
      await agent.drain(m.drainMs);
      await agent.stop();
    }
    process.exit(0);
  };

  process.on('message', (m: PrimaryMessage) => {
    if (m?.type === 'stop') void stop(m);
    else if (m?.type === 'notrack-off') notrackOff = m.commands;
    else if (m?.type === 'pods' && agent) agent.setPods(m.snapshot);
    else if (m?.type === 'reconfigure' && agent) {
      // validated by the supervisor already; a failure here means this worker differs (log it)
      try { agent.reconfigure(m.config); } catch (e) { log.error({ err: (e as Error).message }, 'could not apply the configuration the supervisor sent'); }
    }
  });
  // Ctrl-C reaches the whole process group: the supervisor handles it, in order.
  process.on('SIGINT', () => {});
  // A SIGTERM for this worker alone: ask the supervisor to take its traffic away first.
  process.on('SIGTERM', () => {
    if (process.connected) send({ type: 'leaving' });
    else void stop({ type: 'stop', drainMs: 5000, settleMs: 0 });
  });

  agent = await Agent.start({ config, log });
  cleanup = onStarted(agent);
  send({ type: 'ready' });
  return new Promise<number>(() => { /* runs until told to stop */ });
}
