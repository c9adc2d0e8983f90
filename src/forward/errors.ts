// Why one try upstream failed; `kind` becomes a metric label and a log field.
export type FailureKind = 'timeout' | 'refused' | 'network' | 'closed' | 'busy' | 'malformed';

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(readonly kind: FailureKind, message: string) {
    super(message);
  }
}

export function networkError(e: unknown, address: string): UpstreamError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') return new UpstreamError('refused', `${address} refused the connection (nothing listening?)`);
  return new UpstreamError('network', `${address}: ${code || (e as Error).message}`);
}
