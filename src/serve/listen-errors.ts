// Bind failures, phrased so the operator knows what to change.
export class BindError extends Error {
  override name = 'BindError';
}

export function bindError(e: unknown, proto: 'udp' | 'tcp', ip: string, port: number): BindError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const where = `${proto} ${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
  switch (code) {
    case 'EADDRNOTAVAIL':
      return new BindError(`cannot listen on ${where}: the address is not on any interface of this node. nodedns adds it itself unless --no-setup-interface is set; otherwise add it (ip addr add ${ip}/${ip.includes(':') ? 128 : 32} dev lo) or fix --local-ip`);
    case 'EADDRINUSE':
      return new BindError(`cannot listen on ${where}: another process already uses it (see: ss -lunpt 'sport = :${port}'). Stop it (node-cache? systemd-resolved on 0.0.0.0?) or choose another --local-ip/--port`);
    case 'EACCES':
    case 'EPERM':
      return new BindError(`cannot listen on ${where}: permission denied. Ports below 1024 need root or CAP_NET_BIND_SERVICE`);
    default:
      return new BindError(`cannot listen on ${where}: ${code || (e as Error).message}`);
  }
}
