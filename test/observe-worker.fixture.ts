// A worker process for test/observe-workers.test.ts: a real Agent that answers the
// primary's snapshot requests over the IPC channel, as a --workers worker does.
import { loadConfig } from '../src/config/load';
import { createLogger } from '../src/observe/log';
import { instrumentWorker } from '../src/observe/observability';
import { Agent } from '../src/serve/agent';

async function main(): Promise<void> {
  const { config } = loadConfig(JSON.parse(process.env.OBSERVE_WORKER_ARGV ?? '[]') as string[], {});
  const log = createLogger('warn');
  const agent = await Agent.start({ config, log });
  instrumentWorker(agent, config, log);
  process.send?.({ type: 'fixture-up' });
  process.on('disconnect', () => { void agent.stop(false).then(() => process.exit(0)); });
}

main().catch((e: unknown) => {
  process.stderr.write(`worker fixture: ${(e as Error).stack}\n`);
  process.exit(1);
});
