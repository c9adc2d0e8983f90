import type { Check } from '../wire/validate';

// Why one try upstream failed; `kind` becomes a metric label and a log field.
// 'case', 'spoofed' and 'fds' are not the upstream's fault: the try is asked again
// (without 0x20, over TCP) or refused before a socket opens.
export type FailureKind = 'timeout' | 'refused' | 'network' | 'closed' | 'busy' | 'malformed' | 'case' | 'spoofed' | 'fds';

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(readonly kind: FailureKind, message: string, readonly check?: Check) {
    super(message);
  }
}

/** What the log and the client's error say when descriptors run out: the cause and the fix. */
export const FD_ADVICE = 'raise the open-files limit of nodedns (LimitNOFILE, the container runtime\'s ulimit) or lower --max-inflight';

export function networkError(e: unknown, address: string): UpstreamError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') return new UpstreamError('refused', `${address} refused the connection (nothing listening?)`);
  if (code === 'EMFILE' || code === 'ENFILE') return new UpstreamError('fds', `no file descriptor left for a socket to ${address} (${code}): ${FD_ADVICE}`);
  // a system call's failure is named by its errno code; Node's own (ERR_*) by its message
  return new UpstreamError('network', `${address}: ${code && !code.startsWith('ERR_') ? code : (e as Error).message}`);
}
