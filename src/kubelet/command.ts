// `nodedns kubelet set|restore`: point this node's kubelet at nodedns, or put back what it had.
import { restartKubelet } from './restart';
import { applyPlan, KubeletFileError, nextSteps, planDiff, planRestore, planSet, type KubeletPlan } from './writer';

export const KUBELET_USAGE = `usage:
  nodedns kubelet set [--ip 169.254.20.10] [--host-root /] [--dry-run] [--keep-previous] [--restart-kubelet]
  nodedns kubelet restore [--host-root /] [--dry-run] [--restart-kubelet]

set       points kubelet's clusterDNS (config file, drop-ins and --cluster-dns flags) at --ip;
          the first change of each file keeps the original as FILE.nodedns-backup
restore   puts back the clusterDNS each backed-up file had, and removes the backups

  --ip ADDR          the address nodedns listens on (default 169.254.20.10)
  --host-root DIR    where the host's filesystem is mounted (default /)
  --dry-run          print the diff, change nothing
  --keep-previous    keep the old cluster DNS as a second entry
  --restart-kubelet  restart kubelet afterwards (on the node, or from a pod with hostPID and privileges)
`;

interface Args {
  verb: string;
  ip: string;
  hostRoot: string;
  dryRun: boolean;
  keepPrevious: boolean;
  restart: boolean;
}

class UsageError extends Error {}

function parse(argv: string[]): Args {
  const a: Args = { verb: '', ip: '169.254.20.10', hostRoot: '/', dryRun: false, keepPrevious: false, restart: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? (eq > 0 ? arg.slice(2, eq) : arg.slice(2)) : '';
    const value = (): string => {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new UsageError(`--${name} needs a value`);
      return v;
    };
    if (!name) {
      if (a.verb) throw new UsageError(`unexpected "${arg}"`);
      a.verb = arg;
    } else if (name === 'ip') a.ip = value();
    else if (name === 'host-root') a.hostRoot = value();
    else if (name === 'dry-run') a.dryRun = true;
    else if (name === 'keep-previous') a.keepPrevious = true;
    else if (name === 'restart-kubelet') a.restart = true;
    else if (name === 'help') a.verb = 'help';
    else throw new UsageError(`unknown flag --${name}`);
  }
  if (a.verb === 'restore' && a.keepPrevious) throw new UsageError('--keep-previous is for "set"');
  return a;
}

function list(servers: string[] | undefined): string {
  return servers && servers.length ? servers.join(', ') : '(none)';
}

function report(plan: KubeletPlan, out: (s: string) => void): void {
  for (const n of plan.layout.notes) out(`  ${n}\n`);
  for (const w of plan.warnings) out(`warning: ${w}\n`);
}

export async function kubeletCommand(
  argv: string[],
  out: (s: string) => void = (s) => { process.stdout.write(s); },
  err: (s: string) => void = (s) => { process.stderr.write(s); },
): Promise<number> {
  let a: Args;
  try {
    a = parse(argv);
  } catch (e) {
    err(`nodedns kubelet: ${(e as Error).message}\n\n${KUBELET_USAGE}`);
    return 2;
  }
  if (a.verb === 'help' || a.verb === '') {
    (a.verb === 'help' ? out : err)(KUBELET_USAGE);
    return a.verb === 'help' ? 0 : 2;
  }
  if (a.verb !== 'set' && a.verb !== 'restore') {
    err(`nodedns kubelet: unknown command "${a.verb}"\n\n${KUBELET_USAGE}`);
    return 2;
  }
  let plan: KubeletPlan;
  try {
    plan = a.verb === 'set'
      ? planSet({ ip: a.ip, hostRoot: a.hostRoot, keepPrevious: a.keepPrevious })
      : planRestore(a.hostRoot);
  } catch (e) {
    if (!(e instanceof KubeletFileError)) throw e;
    err(`nodedns kubelet ${a.verb}: ${e.message}\nNothing was changed.\n`);
    return 1;
  }
  const changing = plan.edits.filter((e) => e.after !== e.before);
  if (a.verb === 'set') {
    if (changing.length === 0) {
      out(`kubelet clusterDNS is already [${list(plan.current)}] (from ${plan.currentFrom}); nothing to change.\n`);
      report(plan, out);
      return 0;
    }
    out(`kubelet clusterDNS: [${list(plan.current)}] -> [${list(plan.target)}]${a.dryRun ? ' (dry run: nothing written)' : ''}\n`);
  } else {
    if (plan.edits.length === 0) {
      out('nothing to restore: no kubelet file has a nodedns backup.\n');
      report(plan, out);
      return 0;
    }
    const olds = changing.map((e) => `${e.file}`).join(', ');
    out(`restoring kubelet clusterDNS${olds ? ` in ${olds}` : ' (files already hold their original value)'}${a.dryRun ? ' (dry run: nothing written)' : ''}\n`);
  }
  report(plan, out);
  if (a.dryRun) {
    out(planDiff(plan));
    return 0;
  }
  let res;
  try {
    res = applyPlan(plan);
  } catch (e) {
    err(`nodedns kubelet ${a.verb}: writing failed: ${(e as Error).message}. The file is either unchanged or fully written; check it, then run again\n`);
    return 1;
  }
  for (const f of res.written) out(`  wrote ${f}\n`);
  for (const b of res.backups) out(`  original kept as ${b} ("nodedns kubelet restore" puts it back)\n`);
  for (const e of plan.edits) if (e.dropBackup) out(`  removed backup ${e.local}.nodedns-backup\n`);
  let restarted = false;
  if (a.restart && res.written.length > 0) {
    const r = restartKubelet(plan.layout.procDir, a.hostRoot);
    restarted = r.restarted;
    (r.restarted ? out : err)(`${r.message}\n`);
  }
  if (res.written.length > 0) {
    out(`next: ${nextSteps(a.verb === 'set' ? a.ip : undefined, restarted, a.restart)}\n`);
  }
  return 0;
}
