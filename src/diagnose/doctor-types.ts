// The shape of a doctor check, and what every check may look at.
import type { Config } from '../config/types';
import type { ControlClient } from './control-client';
import type { AgentState } from './control-types';
import type { KubeletDns } from './kubelet-dns';
import type { NodeInspection } from './node-inspect';

export type Status = 'PASS' | 'WARN' | 'FAIL' | 'SKIP';

export interface CheckResult {
  id: string;
  title: string;
  /** the seed story whose failure this check catches */
  seed: string;
  status: Status;
  /** one line: what was seen */
  evidence: string;
  /** for anything not PASS: what to do */
  fix?: string;
  /** more lines of evidence, shown under the first (and in --json) */
  details?: string[];
}

export interface DoctorContext {
  config: Config;
  configFrom: string;
  agent?: { client: ControlClient; state: AgentState };
  /** why no agent answered, when none did */
  noAgent?: string;
  kubelet: KubeletDns;
  namespace: string;
  timeoutMs: number;
  /**
   * Doctor runs inside a pod (the shipped DaemonSet's, via kubectl exec), which does not mount
   * kubelet's files: they sit in /var/lib/kubelet beside every pod's secrets, and a single-file
   * hostPath either blocks the pod where the file is elsewhere (type File) or creates a
   * directory on the host (no type). Checks that need them say so and are skipped.
   */
  inPod?: boolean;
  /** node setup state; replaceable in tests */
  inspectNode: (config: Config) => Promise<NodeInspection>;
}

export function result(id: string, title: string, seed: string, status: Status, evidence: string, fix?: string, details?: string[]): CheckResult {
  return { id, title, seed, status, evidence, ...(fix && status !== 'PASS' ? { fix } : {}), ...(details?.length ? { details } : {}) };
}
