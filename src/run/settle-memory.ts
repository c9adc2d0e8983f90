// Once start-up is over, one garbage collection that gives its memory back.
//
// Start-up compiles every module, lists the API and parses the configuration. V8 keeps the
// pages that work used (a young generation grown to its cap, a fragmented old generation,
// bytecode of functions that never run again), and its memory reducer did not give them back
// on an idle node. The "last resort" collection (the one V8 runs before failing an allocation)
// compacts the old generation, flushes bytecode not in use and shrinks the young generation.
// It needs --expose-gc (src/node-flags.ts); started without it, nodedns skips it.
import type { Logger } from 'pino';

/** After the first API sync (KubeAttachment.synced), this long for the work it started (pods, ConfigMaps) to finish. */
const SETTLE_MS = 1_000;

type GcOptions = { type: 'major'; execution: 'sync'; flavor: 'last-resort' };

const noop = (): void => {};

export function settleMemory(log: Logger, synced: Promise<unknown> = Promise.resolve()): void {
  const gc = (globalThis as { gc?: (o: GcOptions) => void }).gc;
  if (typeof gc !== 'function') return;
  void synced.then(() => {
    setTimeout(() => {
      const before = process.memoryUsage.rss();
      const t0 = performance.now();
      // A tick object stays queued through the collection. A last-resort collection keeps no map
      // that only feedback refers to, and V8 then treats the cleared feedback of process.nextTick's
      // object literal (its keys are symbols) as a second map: megamorphic for good, so every later
      // tick (three per upstream query: connect, send, close) was built by a runtime call. A live
      // tick object keeps those maps. Measured: that runtime call took 1.2-1.4 % of nodedns' CPU
      // on misses (perf, 40,000 misses) and none with the tick queued; misses 2.3 % cheaper.
      process.nextTick(noop);
      try {
        gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'the garbage collection after start-up failed; nodedns serves on with its start-up memory');
        return;
      }
      const ms = Math.round(performance.now() - t0);
      const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
      // how long it held the event loop (queries waited in the socket meanwhile) and what it gave back
      log.info({ rssMiB: mib(before), nowMiB: mib(process.memoryUsage.rss()), ms }, 'start-up memory given back');
    }, SETTLE_MS).unref();
  });
}
