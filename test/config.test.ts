import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { applyYaml, defaults, loadConfig } from '../src/config/load';
import { ConfigError } from '../src/config/types';
import { parseDuration, parseEndpoint } from '../src/config/values';

const ENV = {}; // no KUBE_DNS_* or NODEDNS_* leaking from the machine

describe('config', () => {
  it('has node-cache defaults', () => {
    const { config: c } = loadConfig([], ENV);
    assert.deepEqual(c.localIps, ['169.254.20.10']);
    assert.equal(c.port, 53);
    assert.equal(c.clusterDomain, 'cluster.local');
    assert.equal(c.clusterDnsTransport, 'prefer-udp');
    assert.equal(c.cache.positiveSize, 9984);
    assert.equal(c.cache.negativeSize, 9984);
    assert.equal(c.cache.clusterSuccessTtlCap, 30);
    assert.equal(c.cache.clusterDenialTtlCap, 5);
    assert.equal(c.cache.denialTtlCap, 30);
    assert.equal(c.healthAddr, '169.254.20.10:8080');
    assert.equal(c.metricsAddr, '127.0.0.1:9253');
  });

  it('takes flags, both IP families, repeatable stub domains and hosts', () => {
    const { config: c } = loadConfig([
      '--local-ip', '169.254.20.10,fd00::10', '--port=5353', '--cluster-dns', '10.96.0.10',
      '--stub-domain', 'corp.example=10.0.0.53,10.0.0.54:5353', '--stub-domain', 'Lab.Example.=[fd00::53]:53',
      '--host', 'db.internal=10.1.2.3,fd00::3', '--no-setup-interface', '--upstream-timeout', '2s',
    ], ENV);
    assert.deepEqual(c.localIps, ['169.254.20.10', 'fd00::10']);
    assert.equal(c.port, 5353);
    assert.deepEqual(c.clusterDns, [{ host: '10.96.0.10', port: 53, family: 4 }]);
    assert.deepEqual(c.stubDomains.map((s) => [s.domain, s.servers.map((e) => `${e.host}:${e.port}`)]), [
      ['corp.example', ['10.0.0.53:53', '10.0.0.54:5353']],
      ['lab.example', ['fd00::53:53']],
    ]);
    assert.deepEqual(c.hosts, { 'db.internal': ['10.1.2.3', 'fd00::3'] });
    assert.equal(c.setupInterface, false);
    assert.equal(c.upstreamTimeoutMs, 2000);
    assert.equal(c.healthAddr, '169.254.20.10:8080');
  });

  it('merges file < environment < flags', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-cfg-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, '# comment\nport: 1053\ncluster-domain: corp.local\nstub-domain:\n  a.example: 10.0.0.1\ncache-size: 100\ncache-zones:\n  - zone: example.org\n    success-ttl: 5m\n');
    const { config: c } = loadConfig(['--config', file, '--cache-size', '200'], { NODEDNS_PORT: '2053' });
    assert.equal(c.port, 2053);
    assert.equal(c.clusterDomain, 'corp.local');
    assert.equal(c.cache.positiveSize, 200);
    assert.deepEqual(c.stubDomains[0].domain, 'a.example');
    assert.deepEqual(c.cache.zones, [{ zone: 'example.org', successTtlCap: 300, denialTtlCap: undefined }]);
  });

  it('turns the API on with --kubeconfig unless told otherwise', () => {
    assert.equal(loadConfig([], ENV).config.kubeApi, false);
    assert.equal(loadConfig([], { KUBERNETES_SERVICE_HOST: '10.96.0.1' }).config.kubeApi, true);
    assert.equal(loadConfig(['--kubeconfig', '/k'], ENV).config.kubeApi, true);
    assert.equal(loadConfig(['--kubeconfig', '/k', '--no-kube-api'], ENV).config.kubeApi, false);
  });

  it('takes the cluster DNS from KUBE_DNS_UPSTREAM_SERVICE_HOST, as node-cache does', () => {
    const { config: c } = loadConfig([], { KUBE_DNS_UPSTREAM_SERVICE_HOST: '10.96.0.11', KUBE_DNS_UPSTREAM_SERVICE_PORT: '53' });
    assert.deepEqual(c.clusterDns, [{ host: '10.96.0.11', port: 53, family: 4 }]);
  });

  const bad: [string[], RegExp][] = [
    [['--local-ip', 'nodelocal'], /--local-ip: "nodelocal" is not an IPv4 or IPv6 address/],
    [['--port', '70000'], /--port: "70000" is not a port \(1-65535\)/],
    [['--cluster-dns-transport', 'quic'], /--cluster-dns-transport: "quic" is not one of udp, tcp, prefer-udp/],
    [['--servfail-ttl', '30s'], /--servfail-ttl: at most 5s/],
    [['--stub-domain', 'corp.example'], /--stub-domain: "corp.example" is not domain=ip/],
    [['--upstream', 'dns.google'], /--upstream: "dns.google" is not an IP address/],
    [['--bogus'], /unknown flag --bogus/],
    [['--firewall'], /--firewall needs a value/],
    [['--query-timeout', '1s', '--upstream-timeout', '2s'], /--query-timeout \(1000ms\) must be at least --upstream-timeout/],
  ];
  for (const [argv, msg] of bad) {
    it(`rejects ${argv.join(' ')} naming the flag`, () => {
      assert.throws(() => loadConfig(argv, ENV), (e: Error) => e instanceof ConfigError && msg.test(e.message));
    });
  }

  it('names the file and key of a bad YAML value, and an unknown key', () => {
    const c = defaults(ENV);
    assert.throws(() => applyYaml(c, 'cache-size: lots\n', 'cm.yaml'), /cm.yaml: cache-size: "lots" is not a whole number/);
    assert.throws(() => applyYaml(c, 'cache_size: 1\n', 'cm.yaml'), /cm.yaml: unknown key "cache_size"/);
    assert.throws(() => applyYaml(c, 'port: [1, 2\n', 'cm.yaml'), /cm.yaml: not valid YAML/);
  });

  it('parses endpoints and durations', () => {
    assert.deepEqual(parseEndpoint('[::1]:5353'), { host: '::1', port: 5353, family: 6 });
    assert.deepEqual(parseEndpoint('::1'), { host: '::1', port: 53, family: 6 });
    assert.deepEqual(parseEndpoint('10.0.0.1:54'), { host: '10.0.0.1', port: 54, family: 4 });
    assert.equal(parseDuration('1h', 's'), 3600);
    assert.equal(parseDuration('500ms', 's'), 0.5);
    assert.equal(parseDuration('30', 's'), 30);
  });
});
