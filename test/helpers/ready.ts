// Waits until a server child answers DNS; on failure stops it and says why, with its output.
import { query, type Reply } from './dns-query';
import { hostPort, type Endpoint } from './ports';
import { GiveUp, waitUntil, type Child } from './process';

export interface ReadyCheck {
  child: Child;
  ep: Endpoint;
  name: string;
  type: string;
  timeoutMs: number;
  /** which replies mean ready (default: any reply) */
  accept?: (r: Reply) => boolean;
  /** a reason to give up at once, read from the child's output (e.g. a zone that failed to load) */
  fatal?: () => string | undefined;
  /** stops the child (and cleans up) when it never became ready */
  cleanup: () => Promise<unknown>;
  /** more to show in the error (the command line, the config) */
  context?: string;
}

export async function waitUntilAnswering(c: ReadyCheck): Promise<void> {
  try {
    await waitUntil(`${c.child.name} to answer ${c.name} ${c.type} on ${hostPort(c.ep)}`, async () => {
      const st = c.child.exitStatus();
      if (st) throw new GiveUp(`${c.child.name} exited (code ${st.code}, signal ${st.signal})`);
      const why = c.fatal?.();
      if (why) throw new GiveUp(why);
      const r = await query(c.ep, c.name, c.type, { timeoutMs: 250 });
      return !c.accept || c.accept(r) ? true : undefined;
    }, c.timeoutMs, 20);
  } catch (e) {
    await c.cleanup();
    throw new Error(`${(e as Error).message}\n${c.context ? c.context + '\n' : ''}output:\n${c.child.tail()}`);
  }
}
