// Before a full run, wait for the machine to go quiet. `make bench` builds first, and that
// build alone lifts the 1-minute load average above the 0.5 that flags a run as busy; it
// decays in about a minute (busy: above BUSY_LOAD). Waiting costs that minute; a run flagged busy costs a rerun.
export const BUSY_LOAD = 0.5;

export interface SettleDeps {
  load: () => number; // 1-minute load average
  sleep: (ms: number) => Promise<void>;
  log: (msg: string) => void;
}

/** Waits while the load is above BUSY_LOAD, at most `maxMs`; returns the last load read. */
export async function settle(d: SettleDeps, maxMs = 120_000, stepMs = 5_000): Promise<number> {
  let load = d.load();
  if (load <= BUSY_LOAD) return load;
  d.log(`waiting up to ${Math.round(maxMs / 1000)} s for the load average (${load.toFixed(2)}) to fall to ${BUSY_LOAD}`);
  for (let waited = 0; waited < maxMs && load > BUSY_LOAD; waited += stepMs) {
    await d.sleep(stepMs);
    load = d.load();
  }
  d.log(load <= BUSY_LOAD ? `load average ${load.toFixed(2)}: starting` : `load average still ${load.toFixed(2)}: starting anyway (the run will be flagged busy)`);
  return load;
}
