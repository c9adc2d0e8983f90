// Open connections per client address, for a per-address cap. An address is forgotten with
// its last connection, so the map never holds more entries than connections are open.
export class ClientCounts {
  private readonly counts = new Map<string, number>();

  get size(): number {
    return this.counts.size;
  }

  /** Counts one more connection from `address`; false, counting nothing, when it already has `max`. */
  add(address: string, max: number): boolean {
    const n = this.counts.get(address) ?? 0;
    if (n >= max) return false;
    this.counts.set(address, n + 1);
    return true;
  }

  remove(address: string): void {
    const n = (this.counts.get(address) ?? 1) - 1;
    if (n <= 0) this.counts.delete(address); else this.counts.set(address, n);
  }
}
