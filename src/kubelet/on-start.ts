// The kubelet step of `nodedns run --write-kubelet-config`, taken once nodedns is serving,
// so kubelet is never pointed at an address that does not answer yet.
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { restartKubelet } from './restart';
import { applyPlan, KubeletFileError, nextSteps, planSet } from './writer';

/** Where the outcome is reported besides the log (the Kubernetes Events of src/kube). */
export interface KubeletEventSink {
  report(reason: string, message: string, type?: 'Normal' | 'Warning'): void;
}

export interface KubeletStepResult {
  changed: boolean;
  restarted: boolean;
  error?: string;
}

/** Never throws: a kubelet file nodedns cannot edit is logged, and serving goes on. */
export async function writeKubeletClusterDns(config: Config, log: Logger, events?: KubeletEventSink): Promise<KubeletStepResult> {
  const ip = config.localIps[0];
  try {
    const plan = planSet({ ip, hostRoot: config.hostRoot });
    for (const w of plan.warnings) log.warn({ kubelet: true }, w);
    if (plan.edits.length === 0) {
      log.info({ clusterDNS: plan.current, from: plan.currentFrom }, `kubelet clusterDNS already points at ${ip}; nothing to change`);
      return { changed: false, restarted: false };
    }
    const res = applyPlan(plan);
    const change = `kubelet clusterDNS changed from [${plan.current.join(', ')}] to [${plan.target!.join(', ')}] in ${res.written.join(', ')}`;
    let restarted = false;
    let restartNote = '';
    if (config.restartKubelet) {
      const r = restartKubelet(plan.layout.procDir, config.hostRoot);
      restarted = r.restarted;
      restartNote = r.message;
      (r.restarted ? log.info.bind(log) : log.warn.bind(log))(r.message);
    }
    log.info({ files: res.written, backups: res.backups }, `${change}. ${nextSteps(ip, restarted, config.restartKubelet)}`);
    events?.report('KubeletConfigChanged', `${change}${restartNote ? `; ${restartNote}` : ''}. ${nextSteps(ip, restarted, config.restartKubelet)}`, 'Normal');
    return { changed: true, restarted };
  } catch (e) {
    const msg = e instanceof KubeletFileError ? e.message : `kubelet config not changed: ${(e as Error).message}`;
    log.error({ kubelet: true }, `${msg}. nodedns keeps serving; kubelet still points at its old cluster DNS`);
    events?.report('KubeletConfigNotChanged', msg, 'Warning');
    return { changed: false, restarted: false, error: msg };
  }
}
