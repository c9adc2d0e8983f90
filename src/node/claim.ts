// The part of a start that happens before nodedns binds: one owner per node (the lock),
// nobody else on the DNS port, and the local addresses the sockets bind to. The
// configuration is validated before this runs; the rules are written after the sockets
// are bound (NodeSetup.begin). Whatever fails undoes what came before it.
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { BindError } from '../serve/listen-errors';
import { setupCapabilityMissing } from './capabilities';
import { OwnerLock } from './owner-lock';
import { portHolders } from './port-holders';
import { NodeSetup } from './setup';

export interface NodeClaim {
  node: NodeSetup;
  lock: OwnerLock;
  /** after a failed start: takes back the addresses and rules it changed, releases the lock */
  undo(): Promise<void>;
}

export function nodeSetupOn(c: Config): boolean {
  return c.setupInterface || c.firewall !== 'none';
}

export async function claimNode(config: Config, log: Logger): Promise<NodeClaim> {
  const missing = setupCapabilityMissing();
  if (missing) throw new BindError(missing);
  const where = `${config.localIps.join(', ')} port ${config.port}`;
  const lock = await OwnerLock.acquire(config.lockFile, where);
  let node: NodeSetup | undefined;
  try {
    const held = portHolders(config.localIps, config.port);
    if (held.length > 0) {
      throw new BindError(`cannot serve DNS on ${where}: already taken by ${held.join('; ')}. Nothing on the node was changed. `
        + 'Stop that server (or make it listen elsewhere), or give nodedns other --local-ip');
    }
    node = await NodeSetup.create({ config, log });
    await node.claimInterface();
  } catch (e) {
    await node?.undo().catch((u: Error) => log.error({ err: u.message }, `could not take back the changes of the failed start: ${u.message}`));
    lock.release();
    throw e;
  }
  const n = node;
  return {
    node: n,
    lock,
    async undo() {
      await n.undo().catch((u: Error) => log.error({ err: u.message }, `could not take back the changes of the failed start: ${u.message}`));
      lock.release();
    },
  };
}
