// One nodedns per node. The lock is a unix socket (--lock-file, under /run by default)
// that answers every connection with the owner's PID: the kernel releases it when the
// owner dies however it dies, so a lock left by a SIGKILLed nodedns is recognised (the
// connection is refused) and taken over, and a live owner is named by its own word, which
// stays right across PID namespaces where a PID in a file would not.
import { mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { BindError } from '../serve/listen-errors';

/** A BindError: the command line prints its message and exits 1. */
export class OwnerError extends BindError {
  override name = 'OwnerError';
}

const ASK_TIMEOUT_MS = 5000;

/** What the socket at `path` says: the owner's PID, 'stale' (nobody listens) or 'none' (no socket). */
function askOwner(path: string): Promise<number | 'stale' | 'none'> {
  return new Promise((resolve) => {
    const c = connect(path);
    let text = '';
    const timer = setTimeout(() => { c.destroy(); resolve(0); }, ASK_TIMEOUT_MS);
    c.setEncoding('utf8');
    c.on('data', (d: string) => { if (text.length < 64) text += d; });
    c.on('end', () => { clearTimeout(timer); resolve(Number(/^(\d+)/.exec(text)?.[1] ?? 0)); });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code === 'ENOENT' ? 'none' : e.code === 'ECONNREFUSED' ? 'stale' : 0);
    });
  });
}

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => { c.end(`${process.pid}\n`); c.on('error', () => {}); });
    s.once('error', reject);
    s.listen(path, () => { s.off('error', reject); s.unref(); resolve(s); });
  });
}

export class OwnerLock {
  private constructor(private readonly path: string, private readonly server: Server | undefined) {}

  /** Takes the lock or throws OwnerError naming the running nodedns. '' = no lock. */
  static async acquire(path: string, what: string): Promise<OwnerLock> {
    if (path === '') return new OwnerLock(path, undefined);
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw new OwnerError(`cannot create the directory of --lock-file ${path}: ${(e as Error).message}; mount a writable /run/nodedns, or pass another --lock-file`);
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return new OwnerLock(path, await listen(path));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
          throw new OwnerError(`cannot take the lock ${path}: ${(e as Error).message}; pass a writable --lock-file`);
        }
      }
      const owner = await askOwner(path);
      if (owner === 'stale' || owner === 'none') {
        // left behind by a nodedns that died: nobody answers on it any more
        try { unlinkSync(path); } catch { /* someone else cleared it */ }
        continue;
      }
      throw new OwnerError(`another nodedns ${owner ? `(PID ${owner}) ` : ''}already serves ${what} on this node (it holds ${path}); `
        + `this one changes nothing and exits. Stop that one first (a DaemonSet runs one per node), or give this one other --local-ip and --lock-file`);
    }
    throw new OwnerError(`two nodedns started at once and raced for ${path}; this one exits without changing anything`);
  }

  release(): void {
    if (!this.server) return;
    this.server.close();
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}
