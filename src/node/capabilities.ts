// Which Linux capabilities this process has, to name the real cause when a start fails
// for lack of one: node setup needs CAP_NET_ADMIN (addresses, firewall), port 53
// CAP_NET_BIND_SERVICE. The DaemonSet grants those two and CAP_NET_RAW.
import { readFileSync } from 'node:fs';

const BITS = { CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13 } as const;
export type Capability = keyof typeof BITS;

/** undefined where /proc cannot tell (not Linux). */
export function hasCapability(cap: Capability, status = readStatus()): boolean | undefined {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? '');
  if (!m) return undefined;
  return (BigInt(`0x${m[1]}`) >> BigInt(BITS[cap])) % 2n === 1n;
}

function readStatus(): string | undefined {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
}

function who(): string {
  const uid = process.getuid?.();
  return uid === 0 ? 'as root, but without it' : `as uid ${uid}`;
}

/** The missing capability behind a bind failure's message, phrased as its cause and fix. */
export function bindFailureCause(message: string, status = readStatus()): string | undefined {
  if (/not on any interface/.test(message) && hasCapability('CAP_NET_ADMIN', status) === false) {
    return `nodedns runs without CAP_NET_ADMIN (${who()}), so it could not put the address on an interface or install its firewall rules. `
      + 'Run it as root, or grant CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE (the DaemonSet adds NET_ADMIN, NET_RAW and NET_BIND_SERVICE)';
  }
  if (/cannot listen on (udp|tcp) .*permission denied/.test(message) && hasCapability('CAP_NET_BIND_SERVICE', status) === false) {
    return `nodedns runs without CAP_NET_BIND_SERVICE (${who()}), which a port below 1024 (53) needs. `
      + 'Grant it (the DaemonSet adds NET_BIND_SERVICE), or use --port above 1023 for a test';
  }
  return undefined;
}

/** Why node setup cannot run here, checked before anything changes; undefined when it can (or /proc cannot tell). */
export function setupCapabilityMissing(status = readStatus()): string | undefined {
  if (hasCapability('CAP_NET_ADMIN', status) !== false) return undefined;
  return `node setup (the local address and the firewall rules) needs CAP_NET_ADMIN, and nodedns runs without it (${who()}). `
    + 'Nothing on the node was changed. Run it as root, or grant CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE '
    + '(the DaemonSet adds NET_ADMIN, NET_RAW and NET_BIND_SERVICE), or turn node setup off (--no-setup-interface --firewall none)';
}
