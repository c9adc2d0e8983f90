// Clients waiting on an upstream answer, bounded in all and per client address. --max-inflight
// bounds the distinct questions upstream, not the clients waiting on each: one pod asking one
// slow name 43,000 times a second held 172,000 clients for the 4 s of --query-timeout, and
// nodedns grew from 63 to 290 MiB, past the DaemonSet's memory limit (docs/security-clients.md).
export class WaitingClients {
  total = 0;
  private readonly byClient = new Map<string, number>();

  /** Unbounded until set: the agent sets both from --max-waiting and --max-waiting-per-client. */
  constructor(public max = Infinity, public maxPerClient = Infinity) {}

  /** Counts one more client waiting from `client`; false, counting nothing, past either bound. */
  enter(client: string): boolean {
    if (this.total >= this.max) return false;
    const n = this.byClient.get(client) ?? 0;
    if (n >= this.maxPerClient) return false;
    this.byClient.set(client, n + 1);
    this.total++;
    return true;
  }

  /** One client of `client` has its answer. */
  leave(client: string): void {
    this.total--;
    const n = this.byClient.get(client)!;
    if (n === 1) this.byClient.delete(client);
    else this.byClient.set(client, n - 1);
  }

  /** Addresses with clients waiting now. */
  get clients(): number {
    return this.byClient.size;
  }
}
