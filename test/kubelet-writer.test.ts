// The kubelet clusterDNS writer against fixture host roots: a kubeadm node, a
// flags-only node, files with comments and unusual formatting, already set,
// unparseable, restore, the resolvConf check, and the step `nodedns run` takes.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { describe, it, after } from 'node:test';
import pino from 'pino';
import { kubeletCommand } from '../src/kubelet/command';
import { writeKubeletClusterDns } from '../src/kubelet/on-start';
import { loadConfig } from '../src/config/load';
import { makeHostRoot, type HostRoot, KUBELET_CONFIG, KUBEADM_FLAGS, DEFAULT_KUBELET } from './helpers/hostroot';
import { CLI } from './helpers/agent';

const KUBEADM_CONFIG = `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: ""
healthzBindAddress: 127.0.0.1
healthzPort: 10248
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
memorySwap: {}
resolvConf: /run/systemd/resolve/resolv.conf
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`;
const KUBEADM_FLAGS_ENV = 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"\n';
const KUBEADM_DROPIN = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;
const DROPIN_PATH = 'usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf';

interface Ran { code: number; out: string; err: string }

async function kubelet(...argv: string[]): Promise<Ran> {
  let out = '';
  let err = '';
  const code = await kubeletCommand(argv, (s) => { out += s; }, (s) => { err += s; });
  return { code, out, err };
}

const roots: HostRoot[] = [];
after(() => { for (const r of roots) r.cleanup(); });

/** A host root with an empty proc/ (so the machine's own /proc is never read) and PID 1 "tini". */
function root(files: Record<string, string>): HostRoot {
  const r = makeHostRoot({ 'proc/1/comm': 'tini\n', 'etc/resolv.conf': 'nameserver 192.0.2.53\n', ...files });
  roots.push(r);
  return r;
}

function kubeadmNode(): HostRoot {
  return root({ [KUBELET_CONFIG]: KUBEADM_CONFIG, [KUBEADM_FLAGS]: KUBEADM_FLAGS_ENV, [DROPIN_PATH]: KUBEADM_DROPIN });
}

function backupOf(r: HostRoot, rel: string): string {
  return r.read(`${rel}.nodedns-backup`);
}

describe('kubelet set on a kubeadm node', () => {
  it('changes only the clusterDNS entry, keeps a backup, leaves the flags files alone', async () => {
    const r = kubeadmNode();
    const res = await kubelet('set', '--ip', '169.254.20.10', '--host-root', r.dir);
    assert.equal(res.code, 0, res.err);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG.replace('- 10.96.0.10\n', '- 169.254.20.10\n'));
    assert.equal(backupOf(r, KUBELET_CONFIG), KUBEADM_CONFIG);
    assert.equal(r.read(KUBEADM_FLAGS), KUBEADM_FLAGS_ENV);
    assert.equal(r.read(DROPIN_PATH), KUBEADM_DROPIN);
    assert.match(res.out, /\[10\.96\.0\.10\] -> \[169\.254\.20\.10\]/);
    assert.match(res.out, /--config=\/var\/lib\/kubelet\/config\.yaml is set in \/usr\/lib\/systemd\/system\/kubelet\.service\.d\/10-kubeadm\.conf/);
    assert.match(res.out, /next: kubelet reads clusterDNS only when it starts/);
    assert.match(res.out, /Only pods created after that get "nameserver 169\.254\.20\.10"/);
    // no temporary file is left beside it
    assert.deepEqual(readdirSync(r.path('var/lib/kubelet')).sort(), ['config.yaml', 'config.yaml.nodedns-backup', 'kubeadm-flags.env']);
  });

  it('does nothing when clusterDNS already points at nodedns', async () => {
    const r = kubeadmNode();
    assert.equal((await kubelet('set', '--host-root', r.dir)).code, 0);
    const before = statSync(r.path(KUBELET_CONFIG));
    const again = await kubelet('set', '--host-root', r.dir);
    assert.equal(again.code, 0);
    assert.match(again.out, /already \[169\.254\.20\.10\].*nothing to change/);
    const now = statSync(r.path(KUBELET_CONFIG));
    assert.equal(now.ino, before.ino, 'the file was rewritten');
    assert.equal(now.mtimeMs, before.mtimeMs);
  });

  it('keeps the first backup only, and restore puts the original value back', async () => {
    const r = kubeadmNode();
    assert.equal((await kubelet('set', '--host-root', r.dir)).code, 0);
    assert.equal((await kubelet('set', '--ip', '169.254.20.11', '--host-root', r.dir)).code, 0);
    assert.equal(backupOf(r, KUBELET_CONFIG), KUBEADM_CONFIG, 'the backup must stay the original');
    const res = await kubelet('restore', '--host-root', r.dir);
    assert.equal(res.code, 0, res.err);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG);
    assert.equal(r.exists(`${KUBELET_CONFIG}.nodedns-backup`), false);
    assert.match(res.out, /removed backup/);
    const nothing = await kubelet('restore', '--host-root', r.dir);
    assert.equal(nothing.code, 0);
    assert.match(nothing.out, /nothing to restore/);
  });

  it('restore keeps changes others made to the file since', async () => {
    const r = kubeadmNode();
    await kubelet('set', '--host-root', r.dir);
    r.write(KUBELET_CONFIG, r.read(KUBELET_CONFIG).replace('healthzPort: 10248', 'healthzPort: 10250'));
    assert.equal((await kubelet('restore', '--host-root', r.dir)).code, 0);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG.replace('healthzPort: 10248', 'healthzPort: 10250'));
  });

  it('--keep-previous keeps the old server as a second entry', async () => {
    const r = kubeadmNode();
    assert.equal((await kubelet('set', '--keep-previous', '--host-root', r.dir)).code, 0);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG.replace('- 10.96.0.10\n', '- 169.254.20.10\n- 10.96.0.10\n'));
    const again = await kubelet('set', '--keep-previous', '--host-root', r.dir);
    assert.match(again.out, /already \[169\.254\.20\.10, 10\.96\.0\.10\]/);
  });

  it('--dry-run prints a unified diff and writes nothing', async () => {
    const r = kubeadmNode();
    const res = await kubelet('set', '--dry-run', '--host-root', r.dir);
    assert.equal(res.code, 0);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG);
    assert.equal(r.exists(`${KUBELET_CONFIG}.nodedns-backup`), false);
    assert.ok(res.out.includes([
      '--- /var/lib/kubelet/config.yaml',
      '+++ /var/lib/kubelet/config.yaml (nodedns)',
      '@@ -11,7 +11,7 @@',
      '   mode: Webhook',
      ' cgroupDriver: systemd',
      ' clusterDNS:',
      '-- 10.96.0.10',
      '+- 169.254.20.10',
      ' clusterDomain: cluster.local',
      ' containerRuntimeEndpoint: ""',
      ' healthzBindAddress: 127.0.0.1',
      '',
    ].join('\n')), res.out);
  });

  it('keeps the file mode', async () => {
    const r = kubeadmNode();
    chmodSync(r.path(KUBELET_CONFIG), 0o600);
    await kubelet('set', '--host-root', r.dir);
    assert.equal(statSync(r.path(KUBELET_CONFIG)).mode & 0o777, 0o600);
  });
});

describe('kubelet set on a flags-only node', () => {
  const DEFAULTS = '# Managed by the node image\nKUBELET_EXTRA_ARGS="--node-ip=192.0.2.7 --cluster-dns=10.96.0.10 --cluster-domain=cluster.local"\n';

  it('rewrites the --cluster-dns value and nothing else', async () => {
    const r = root({ [DEFAULT_KUBELET]: DEFAULTS });
    const res = await kubelet('set', '--host-root', r.dir);
    assert.equal(res.code, 0, res.err);
    assert.equal(r.read(DEFAULT_KUBELET), DEFAULTS.replace('--cluster-dns=10.96.0.10', '--cluster-dns=169.254.20.10'));
    assert.equal(backupOf(r, DEFAULT_KUBELET), DEFAULTS);
    assert.equal((await kubelet('restore', '--host-root', r.dir)).code, 0);
    assert.equal(r.read(DEFAULT_KUBELET), DEFAULTS);
  });

  it('handles "--cluster-dns VALUE" and ignores commented-out flags', async () => {
    const text = '#KUBELET_EXTRA_ARGS=--cluster-dns=10.0.0.1\nKUBELET_EXTRA_ARGS=--cluster-dns 10.96.0.10 --v=2\n';
    const r = root({ [DEFAULT_KUBELET]: text });
    assert.equal((await kubelet('set', '--keep-previous', '--host-root', r.dir)).code, 0);
    assert.equal(r.read(DEFAULT_KUBELET), '#KUBELET_EXTRA_ARGS=--cluster-dns=10.0.0.1\nKUBELET_EXTRA_ARGS=--cluster-dns 169.254.20.10,10.96.0.10 --v=2\n');
  });

  it('edits the flag and the config file together, since the flag wins in kubelet', async () => {
    const r = kubeadmNode();
    r.write(DEFAULT_KUBELET, DEFAULTS);
    assert.equal((await kubelet('set', '--host-root', r.dir)).code, 0);
    assert.match(r.read(DEFAULT_KUBELET), /--cluster-dns=169\.254\.20\.10 /);
    assert.match(r.read(KUBELET_CONFIG), /clusterDNS:\n- 169\.254\.20\.10\n/);
  });
});

describe('kubelet set keeps comments and formatting', () => {
  const cases: { name: string; before: string; after: string; keepPrevious?: boolean }[] = [
    {
      name: 'indented list, comments, quoted entries, CRLF-free unusual spacing',
      before: '# kubelet config, hand written\nkind: KubeletConfiguration   # kind\napiVersion: kubelet.config.k8s.io/v1beta1\n\nclusterDNS:   # who pods ask\n    - "10.96.0.10"    # kube-dns\n    # a second one, for tests\n    - \'10.96.0.11\'\nclusterDomain:    cluster.local\n# end\n',
      after: '# kubelet config, hand written\nkind: KubeletConfiguration   # kind\napiVersion: kubelet.config.k8s.io/v1beta1\n\nclusterDNS:   # who pods ask\n    - "169.254.20.10"    # kube-dns\n    # a second one, for tests\nclusterDomain:    cluster.local\n# end\n',
    },
    {
      name: 'flow list with a trailing comment',
      before: 'kind: KubeletConfiguration\nclusterDNS: [ 10.96.0.10 ]  # the service\nmaxPods: 110\n',
      after: 'kind: KubeletConfiguration\nclusterDNS: [ 169.254.20.10, 10.96.0.10 ]  # the service\nmaxPods: 110\n',
      keepPrevious: true,
    },
    {
      name: 'a JSON config file',
      before: '{\n  "kind": "KubeletConfiguration",\n  "apiVersion": "kubelet.config.k8s.io/v1beta1",\n  "clusterDNS": ["10.96.0.10"],\n  "maxPods": 110\n}\n',
      after: '{\n  "kind": "KubeletConfiguration",\n  "apiVersion": "kubelet.config.k8s.io/v1beta1",\n  "clusterDNS": ["169.254.20.10"],\n  "maxPods": 110\n}\n',
    },
    {
      name: 'no clusterDNS yet: added before clusterDomain, with the map\'s indentation',
      before: 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n# DNS\nclusterDomain: cluster.local\nmaxPods: 110\n',
      after: 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n# DNS\nclusterDNS:\n- 169.254.20.10\nclusterDomain: cluster.local\nmaxPods: 110\n',
    },
    {
      name: 'no clusterDNS and no clusterDomain, no final newline',
      before: 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 110',
      after: 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 110\nclusterDNS:\n- 169.254.20.10',
    },
    {
      name: 'an empty clusterDNS key',
      before: 'kind: KubeletConfiguration\nclusterDNS:   # set me\nmaxPods: 110\n',
      after: 'kind: KubeletConfiguration\nclusterDNS:   # set me\n- 169.254.20.10\nmaxPods: 110\n',
    },
    {
      name: 'several documents: only the KubeletConfiguration changes',
      before: 'kind: Other\nclusterDNS: [1.1.1.1]\n---\nkind: KubeletConfiguration\nclusterDNS:\n  - 10.96.0.10\n  - 10.96.0.11\n',
      after: 'kind: Other\nclusterDNS: [1.1.1.1]\n---\nkind: KubeletConfiguration\nclusterDNS:\n  - 169.254.20.10\n  - 10.96.0.10\n',
      keepPrevious: true,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = root({ [KUBELET_CONFIG]: c.before });
      const res = await kubelet('set', ...(c.keepPrevious ? ['--keep-previous'] : []), '--host-root', r.dir);
      assert.equal(res.code, 0, res.err);
      assert.equal(r.read(KUBELET_CONFIG), c.after);
      const back = await kubelet('restore', '--host-root', r.dir);
      assert.equal(back.code, 0, back.err);
      assert.equal(r.read(KUBELET_CONFIG), c.before, 'restore must give back the original bytes');
    });
  }
});

describe('kubelet set refuses what it must not touch', () => {
  it('leaves an unparseable file untouched and says what is wrong', async () => {
    const broken = 'kind: KubeletConfiguration\nclusterDNS: [10.96.0.10\nmaxPods: 110\n';
    const r = root({ [KUBELET_CONFIG]: broken });
    const res = await kubelet('set', '--host-root', r.dir);
    assert.equal(res.code, 1);
    assert.match(res.err, /\/var\/lib\/kubelet\/config\.yaml .*not valid YAML/);
    assert.match(res.err, /Nothing was changed/);
    assert.equal(r.read(KUBELET_CONFIG), broken);
    assert.equal(r.exists(`${KUBELET_CONFIG}.nodedns-backup`), false);
  });

  it('refuses a file that is not a KubeletConfiguration', async () => {
    const r = root({ [KUBELET_CONFIG]: 'apiVersion: v1\nkind: Pod\n' });
    const res = await kubelet('set', '--host-root', r.dir);
    assert.equal(res.code, 1);
    assert.match(res.err, /no document with "kind: KubeletConfiguration"/);
  });

  it('refuses a clusterDNS that is not a list', async () => {
    const r = root({ [KUBELET_CONFIG]: 'kind: KubeletConfiguration\nclusterDNS: 10.96.0.10\n' });
    const res = await kubelet('set', '--host-root', r.dir);
    assert.equal(res.code, 1);
    assert.match(res.err, /line 2: clusterDNS must be a list/);
  });

  it('says where it looked when nothing sets kubelet DNS', async () => {
    const r = root({});
    const res = await kubelet('set', '--host-root', r.dir);
    assert.equal(res.code, 1);
    assert.match(res.err, /found no place where this node's kubelet takes its cluster DNS \(looked at \/var\/lib\/kubelet\/kubeadm-flags\.env, \/etc\/default\/kubelet/);
  });

  it('rejects a bad --ip and unknown flags', async () => {
    const r = kubeadmNode();
    assert.equal((await kubelet('set', '--ip', 'nodelocal', '--host-root', r.dir)).code, 1);
    const u = await kubelet('set', '--bogus');
    assert.equal(u.code, 2);
    assert.match(u.err, /unknown flag --bogus/);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG);
  });
});

describe('kubelet discovery through /proc', () => {
  it('edits the file named by the running kubelet\'s --config, not the default one', async () => {
    const custom = 'kind: KubeletConfiguration\nclusterDNS:\n- 10.100.0.10\n';
    const r = kubeadmNode();
    r.write('etc/kubernetes/kubelet-custom.yaml', custom);
    r.write('proc/4242/cmdline', ['/usr/bin/kubelet', '--config', '/etc/kubernetes/kubelet-custom.yaml', '--v=2', ''].join('\0'));
    r.write('proc/17/cmdline', ['/usr/bin/containerd', ''].join('\0'));
    const res = await kubelet('set', '--host-root', r.dir);
    assert.equal(res.code, 0, res.err);
    assert.match(res.out, /kubelet is running \(pid 4242\)/);
    assert.equal(r.read('etc/kubernetes/kubelet-custom.yaml'), custom.replace('10.100.0.10', '169.254.20.10'));
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG, 'kubelet does not read the default file; it must stay as it was');
  });

  it('reports a --cluster-dns on the command line that no file sets', async () => {
    const r = kubeadmNode();
    r.write('proc/4242/cmdline', ['kubelet', '--config=/var/lib/kubelet/config.yaml', '--cluster-dns=10.96.0.99', ''].join('\0'));
    const res = await kubelet('set', '--host-root', r.dir);
    assert.equal(res.code, 1);
    assert.match(res.err, /kubelet runs with --cluster-dns=10\.96\.0\.99 \(pid 4242\) but none of its flags files sets it/);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG);
  });

  it('says it cannot restart kubelet when it does not share the host\'s PID namespace', async () => {
    const r = kubeadmNode();
    const res = await kubelet('set', '--restart-kubelet', '--host-root', r.dir);
    assert.equal(res.code, 0);
    assert.match(res.err, /cannot restart kubelet from here: the host's processes were read from .*\/proc, not from this process's \/proc/);
    assert.match(res.out, /next: kubelet reads clusterDNS only when it starts/);
  });
});

describe('kubelet resolvConf check (seed 000)', () => {
  const resolved = { 'etc/resolv.conf': 'nameserver 127.0.0.53\noptions edns0 trust-ad\n' };

  it('warns on a systemd-resolved host when kubelet hands pods /etc/resolv.conf', async () => {
    const r = root({ ...resolved, [KUBELET_CONFIG]: KUBEADM_CONFIG.replace('resolvConf: /run/systemd/resolve/resolv.conf\n', '') });
    const res = await kubelet('set', '--dry-run', '--host-root', r.dir);
    assert.match(res.out, /warning: this host runs systemd-resolved \(\/etc\/resolv\.conf names 127\.0\.0\.53\), but kubelet's resolvConf is \/etc\/resolv\.conf.*Set resolvConf in \/var\/lib\/kubelet\/config\.yaml to \/run\/systemd\/resolve\/resolv\.conf/);
  });

  it('is quiet when resolvConf is the real upstreams file, or the host has no stub', async () => {
    const ok = root({ ...resolved, [KUBELET_CONFIG]: KUBEADM_CONFIG });
    assert.doesNotMatch((await kubelet('set', '--dry-run', '--host-root', ok.dir)).out, /warning/);
    const plain = root({ [KUBELET_CONFIG]: KUBEADM_CONFIG.replace('resolvConf: /run/systemd/resolve/resolv.conf\n', '') });
    assert.doesNotMatch((await kubelet('set', '--dry-run', '--host-root', plain.dir)).out, /warning/);
  });

  it('names the --resolv-conf flag when that is where it is set', async () => {
    const r = root({ ...resolved, [KUBELET_CONFIG]: KUBEADM_CONFIG, [DEFAULT_KUBELET]: 'KUBELET_EXTRA_ARGS=--resolv-conf=/etc/resolv.conf\n' });
    assert.match((await kubelet('set', '--dry-run', '--host-root', r.dir)).out, /Set the --resolv-conf flag to \/run\/systemd\/resolve\/resolv\.conf/);
  });
});

describe('the kubelet step of nodedns run', () => {
  const silent = pino({ level: 'silent' });

  it('points kubelet at the first local IP and reports it as an Event', async () => {
    const r = kubeadmNode();
    const { config } = loadConfig(['--local-ip', '169.254.20.10,fd00::10', '--host-root', r.dir, '--write-kubelet-config'], {});
    const reported: string[][] = [];
    const res = await writeKubeletClusterDns(config, silent, { report: (reason, message, type) => reported.push([reason, message, type ?? '']) });
    assert.deepEqual(res, { changed: true, restarted: false });
    assert.match(r.read(KUBELET_CONFIG), /clusterDNS:\n- 169\.254\.20\.10\n/);
    assert.equal(reported.length, 1);
    assert.equal(reported[0][0], 'KubeletConfigChanged');
    assert.match(reported[0][1], /from \[10\.96\.0\.10\] to \[169\.254\.20\.10\].*restart it on this node/);
    const again = await writeKubeletClusterDns(config, silent, { report: (reason) => reported.push([reason]) });
    assert.equal(again.changed, false);
    assert.equal(reported.length, 1, 'no event when nothing changed');
  });

  it('never throws: an unparseable file is logged and reported', async () => {
    const r = root({ [KUBELET_CONFIG]: 'kind: KubeletConfiguration\nclusterDNS: [\n' });
    const { config } = loadConfig(['--host-root', r.dir], {});
    const reported: string[] = [];
    const res = await writeKubeletClusterDns(config, silent, { report: (reason) => reported.push(reason) });
    assert.equal(res.changed, false);
    assert.match(res.error ?? '', /not valid YAML/);
    assert.deepEqual(reported, ['KubeletConfigNotChanged']);
  });
});

describe('nodedns kubelet from the built CLI', () => {
  it('runs as a subcommand of dist/cli.js', (t) => {
    if (!existsSync(CLI)) {
      assert.fail(`${CLI} is missing: run "make build" first`);
    }
    const r = kubeadmNode();
    const p = spawnSync(process.execPath, [CLI, 'kubelet', 'set', '--dry-run', '--host-root', r.dir], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /^kubelet clusterDNS: \[10\.96\.0\.10\] -> \[169\.254\.20\.10\] \(dry run: nothing written\)$/m);
    assert.equal(r.read(KUBELET_CONFIG), KUBEADM_CONFIG);
    t.diagnostic('dist/cli.js kubelet set --dry-run works');
  });
});
