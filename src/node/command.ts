// `nodedns setup` and `nodedns teardown`.
//   setup [--dry-run] [--notrack]  put the interface, addresses and standing rules in place;
//                                  NOTRACK is left as found (--notrack installs it too: it steers DNS to a
//                                  nodedns that must then be serving); --dry-run prints the
//                                  rules for this node and changes nothing.
//   teardown                       remove everything nodedns installed: rules in every
//                                  backend, the dummy interface or the addresses on lo.
import pino, { type Logger } from 'pino';
import { loadConfig } from '../config/load';
import type { Config } from '../config/types';
import { Firewall } from './firewall/firewall';
import { LocalInterface } from './interface';
import { firewallInputs } from './setup';

function stderrLogger(c: Config): Logger {
  return pino({ level: c.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

const flag = (values: Map<string, unknown[]>, name: string) => {
  const v = values.get(name)?.slice(-1)[0];
  return v === true || v === 'true' || v === '1';
};

export async function setupCommand(argv: string[]): Promise<number> {
  const { config, args } = loadConfig(argv, process.env, ['dry-run', 'notrack']);
  const log = stderrLogger(config);
  const dryRun = flag(args.values, 'dry-run');
  const notrack = flag(args.values, 'notrack');
  const out: string[] = [];
  let failed = false;

  if (config.setupInterface) {
    const iface = new LocalInterface(config.interfaceName, config.localIps, log);
    try {
      const c = await iface.check();
      if (dryRun) {
        out.push(`# interface: ${c.linkMissing ? `would create dummy ${config.interfaceName} (lo if the kernel has no dummy driver)` : `${c.link} present${c.down ? ', down: would set it up' : ''}`}`);
        out.push(`# addresses: ${c.missingIps.length ? `would add ${c.missingIps.map((ip) => `${ip}/${ip.includes(':') ? 128 : 32}`).join(', ')}` : `all present (${config.localIps.join(', ')})`}`);
      } else {
        const r = await iface.ensure();
        out.push(`interface ${r.link}: ${r.repaired.length ? `${r.repaired.join(' and ')} set up` : 'already in place'}; addresses ${config.localIps.join(', ')}`);
      }
    } catch (e) {
      failed = true;
      out.push(`interface: FAILED: ${(e as Error).message}`);
    } finally {
      iface.close();
    }
  } else {
    out.push('# interface: --no-setup-interface, left alone');
  }

  if (config.firewall === 'none') {
    out.push('# firewall: --firewall none, no rules');
  } else {
    try {
      const fw = await Firewall.create(config.firewall, log, undefined, config.steering);
      const inputs = firewallInputs(config);
      if (dryRun) {
        out.push('# sets: notrack (only while nodedns serves), base and fallback (standing)');
        out.push((await fw.render(inputs, true)).trimEnd());
      } else {
        const r = await fw.sync(inputs, notrack ? true : 'keep');
        out.push(`firewall ${fw.name}: ${r.changed.size ? `wrote ${[...r.changed].join(', ')}` : 'rules already in place'}${notrack ? '' : ' (NOTRACK left as it was: nodedns run adds it once serving)'}`);
      }
    } catch (e) {
      failed = true;
      out.push(`firewall: FAILED: ${(e as Error).message}`);
    }
  }
  process.stdout.write(out.join('\n') + '\n');
  return failed ? 1 : 0;
}

export async function teardownCommand(argv: string[]): Promise<number> {
  const { config, args } = loadConfig(argv);
  // what it removes goes to stdout once; the log adds warnings and errors (all with --log-level)
  const log = stderrLogger(args.values.has('log-level') ? config : { ...config, logLevel: 'warn' });
  const removed: string[] = [];
  const errors: string[] = [];
  try {
    removed.push(...(await Firewall.teardown(log)));
  } catch (e) {
    errors.push(`firewall: ${(e as Error).message}`);
  }
  if (config.setupInterface) {
    const iface = new LocalInterface(config.interfaceName, config.localIps, log);
    try {
      removed.push(...(await iface.remove()));
    } catch (e) {
      errors.push(`interface: ${(e as Error).message}`);
    } finally {
      iface.close();
    }
  }
  const lines = removed.length ? removed.map((r) => `removed ${r}`) : ['nothing of nodedns was installed'];
  for (const e of errors) lines.push(`FAILED: ${e}`);
  process.stdout.write(lines.join('\n') + '\n');
  if (errors.length === 0 && removed.length > 0) {
    process.stdout.write('note: if nodedns still runs, its resync puts everything back within --sync-interval; delete the DaemonSet first\n');
  }
  return errors.length ? 1 : 0;
}
