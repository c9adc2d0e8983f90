// Plain counters of node setup, read by the metrics module at scrape time. They live in
// the process that owns the rules (the only process, or the supervisor with --workers N),
// which also serves /metrics.

/** What a resync found missing and put back (counted only for things once in place). */
export interface RuleRepairs {
  interface: number; // the dummy interface (or lo) was missing or down
  address: number; // a local address was missing
  notrack: number;
  base: number; // ACCEPT rules and the NOTRACK of nodedns' replies
  fallback: number;
}

/** Failures while setting up, by type (node-cache's setup_errors_total types where they match). */
export interface SetupErrors {
  interface_add: number;
  interface_check: number;
  iptables: number;
  iptables_lock: number;
  nftables: number;
}

/** Firewall passes of the resync, by what they did. */
export interface FirewallSyncs {
  full: number; // the rules read with iptables-save / nft (and repaired if needed)
  skipped: number; // the nf_tables generation unchanged since the last full sync: nothing to read
}

export interface NodeCounters {
  ruleRepairs: RuleRepairs;
  firewallSyncs: FirewallSyncs;
  setupErrors: SetupErrors;
  /** 1 while the NOTRACK rules are in place (nodedns gets the traffic), 0 while the fallback does */
  notrackInstalled: number;
  /** times the NOTRACK rules were removed so the fallback took over */
  fallbackActivations: number;
  /** worker processes restarted after they died */
  workerRestarts: number;
  /** workers currently serving */
  workersReady: number;
  /** seconds since the epoch of the last completed resync (a skipped firewall pass counts: the generation verified it), 0 = none yet */
  lastSyncTime: number;
}

export function emptyCounters(): NodeCounters {
  return {
    ruleRepairs: { interface: 0, address: 0, notrack: 0, base: 0, fallback: 0 },
    firewallSyncs: { full: 0, skipped: 0 },
    setupErrors: { interface_add: 0, interface_check: 0, iptables: 0, iptables_lock: 0, nftables: 0 },
    notrackInstalled: 0,
    fallbackActivations: 0,
    workerRestarts: 0,
    workersReady: 0,
    lastSyncTime: 0,
  };
}

/** The one instance in this process. */
export const nodeCounters: NodeCounters = emptyCounters();
