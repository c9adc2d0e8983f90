// Which tool nodedns writes its rules with, and (for --firewall auto) how it picks the
// one the node already uses. The rule follows kube-proxy's iptables-wrapper: the
// kubelet/kube-proxy hint chains first, then whichever iptables backend holds more
// rules. A kube-proxy running in nftables mode (table ip kube-proxy) means nftables.
import { readFileSync } from 'node:fs';
import type { FirewallMode } from '../../config/types';
import { firstLine, type Runner } from '../exec';

export type Variant = 'legacy' | 'nft';
export type Backend =
  | { kind: 'iptables'; variant: Variant }
  | { kind: 'nftables' }
  | { kind: 'none' };

export function backendName(b: Backend): string {
  return b.kind === 'iptables' ? `iptables-${b.variant}` : b.kind;
}

/** The save/restore binaries for a variant and family, e.g. ip6tables-legacy-restore. */
export function iptablesBin(variant: Variant, family: 4 | 6, tool: 'save' | 'restore'): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}-${variant}-${tool}`;
}

/**
 * Tables loaded in the legacy (x_tables) backend. Read from /proc rather than by running
 * iptables-legacy-save -t, which would load a legacy table as a side effect.
 */
export function legacyTables(family: 4 | 6): string[] {
  try {
    return readFileSync(family === 6 ? '/proc/net/ip6_tables_names' : '/proc/net/ip_tables_names', 'utf8')
      .split('\n').map((s) => s.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

/** Full save text of one variant and family ('' when it has no tables or the tool is missing). */
export async function saveText(run: Runner, variant: Variant, family: 4 | 6): Promise<string> {
  if (variant === 'legacy' && legacyTables(family).length === 0) return '';
  const r = await run(iptablesBin(variant, family, 'save'), []);
  return r.code === 0 ? r.stdout : '';
}

const HINTS = [':KUBE-IPTABLES-HINT', ':KUBE-KUBELET-CANARY'];

export function countRules(text: string): number {
  return text.split('\n').filter((l) => l.startsWith('-A ')).length;
}

export function hasHint(text: string): boolean {
  return text.split('\n').some((l) => HINTS.some((h) => l.startsWith(h + ' ')));
}

export async function kubeProxyNftTables(run: Runner): Promise<string[]> {
  const r = await run('nft', ['list', 'tables']);
  if (r.code !== 0) return [];
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => /^table ip6? kube-proxy$/.test(l));
}

export interface Detection {
  backend: Backend;
  reason: string;
}

async function available(run: Runner, cmd: string, args: string[]): Promise<boolean> {
  const r = await run(cmd, args);
  return !r.missing && r.code === 0;
}

export async function detectBackend(mode: FirewallMode, run: Runner): Promise<Detection> {
  if (mode === 'none') return { backend: { kind: 'none' }, reason: '--firewall none' };
  if (mode === 'nftables') return { backend: { kind: 'nftables' }, reason: '--firewall nftables' };
  const [legacy4, legacy6, nft4, nft6] = await Promise.all([
    saveText(run, 'legacy', 4), saveText(run, 'legacy', 6), saveText(run, 'nft', 4), saveText(run, 'nft', 6),
  ]);
  const legacy = legacy4 + legacy6;
  const nft = nft4 + nft6;
  const kp = mode === 'auto' ? await kubeProxyNftTables(run) : [];
  const legacyOk = await available(run, iptablesBin('legacy', 4, 'restore'), ['--version']);
  const nftOk = await available(run, iptablesBin('nft', 4, 'restore'), ['--version']);
  const ipt = (variant: Variant, reason: string): Detection => ({ backend: { kind: 'iptables', variant }, reason });
  if (kp.length > 0) return { backend: { kind: 'nftables' }, reason: `kube-proxy runs in nftables mode (${kp.join(', ')})` };
  if (hasHint(nft) && nftOk) return ipt('nft', 'kubelet/kube-proxy hint chains are in iptables-nft');
  if (hasHint(legacy) && legacyOk) return ipt('legacy', 'kubelet/kube-proxy hint chains are in iptables-legacy');
  const nl = countRules(legacy);
  const nn = countRules(nft);
  if (nl > nn && legacyOk) return ipt('legacy', `iptables-legacy holds more rules (${nl} against ${nn} in iptables-nft)`);
  if (nn > 0 && nftOk) return ipt('nft', `iptables-nft holds more rules (${nn} against ${nl} in iptables-legacy)`);
  if (mode === 'auto' && (await available(run, 'nft', ['--version']))) {
    return { backend: { kind: 'nftables' }, reason: 'no iptables rules on the node; nft is installed' };
  }
  if (nftOk) return ipt('nft', 'no rules on the node to go by; iptables-nft is installed');
  if (legacyOk) return ipt('legacy', 'no rules on the node to go by; only iptables-legacy is installed');
  const r = await run(iptablesBin('nft', 4, 'restore'), ['--version']);
  throw new Error(`--firewall ${mode}: no usable iptables-nft-restore, iptables-legacy-restore${mode === 'auto' ? ' or nft' : ''} `
    + `(${firstLine(r.stderr) || 'not found'}); install iptables or nftables in the image, or pass --firewall none and manage the rules yourself`);
}
