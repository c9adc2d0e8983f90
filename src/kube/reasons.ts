// The reasons of the Events nodedns posts on its Node (kept apart: importing them loads no client).
export const REASONS = {
  noUpstream: 'NoUsableUpstream',
  loop: 'UpstreamLoop',
  fallback: 'FallbackActive',
  rejected: 'ConfigRejected',
  applied: 'ConfigApplied',
  kubelet: 'KubeletConfigChanged',
  clusterDns: 'ClusterDNSChanged',
} as const;
