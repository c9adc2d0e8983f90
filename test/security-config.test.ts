// The flags of issue 14's client limits and exposure: defaults, bounds, and messages that
// name the flag; who counts as "the node itself" for the revealing CHAOS names.
import { strict as assert } from 'node:assert';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';
import { defaults, loadConfig } from '../src/config/load';
import { ConfigError } from '../src/config/types';
import { parseCidr, parseListenAddr } from '../src/config/values';
import { NodeClients } from '../src/observe/node-clients';
import { tcpLimits } from '../src/serve/tcp';

const ENV = {};
const rejects = (argv: string[], msg: RegExp) =>
  assert.throws(() => loadConfig(argv, ENV), (e: Error) => e instanceof ConfigError && msg.test(e.message), argv.join(' '));

describe('client limits and exposure settings', () => {
  it('have bounded defaults', () => {
    const l = tcpLimits(defaults(ENV));
    assert.deepEqual(l, { maxConnections: 1024, maxConnectionsPerClient: 64, idleTimeoutMs: 10_000, messageTimeoutMs: 2000,
      maxQueriesPerConnection: 128, maxPendingBytes: 65536, maxPendingTotal: 32 * 1024 * 1024 });
    const c = defaults(ENV);
    assert.equal(c.metricsAddr, '127.0.0.1:9253');
    assert.equal(c.allowOpenResolver, false);
    assert.deepEqual(c.chaosAllow, []);
  });

  it('are validated, and the message names the flag', () => {
    rejects(['--tcp-max-pending-bytes', '100'], /--tcp-max-pending-bytes: "100" is not a whole number from 16384/);
    rejects(['--tcp-max-pending-bytes', String(2 ** 30)], /--tcp-max-pending-bytes/);
    rejects(['--tcp-max-pending-total', '65536'], /--tcp-max-pending-total: "65536" is not a whole number from 1048576/);
    rejects(['--tcp-message-timeout', '10ms'], /--tcp-message-timeout: "10ms" is not from 100ms to 60s/);
    rejects(['--tcp-message-timeout', '5m'], /--tcp-message-timeout/);
    rejects(['--tcp-max-connections-per-client', '0'], /--tcp-max-connections-per-client: "0"/);
    rejects(['--chaos-allow', '10.0.0.0/33'], /--chaos-allow: "10.0.0.0\/33": the prefix length must be a whole number from 0 to 32/);
    rejects(['--chaos-allow', 'pods'], /--chaos-allow: "pods" is not an address or CIDR/);
    rejects(['--chaos-allow', Array.from({ length: 257 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(',')], /--chaos-allow: 257 entries; at most 256/);
    rejects(['--local-ip', '0.0.0.0'], /--local-ip 0\.0\.0\.0: a wildcard address .* open resolver .* --allow-open-resolver/);
    rejects(['--local-ip', '169.254.20.10,::'], /--local-ip ::: a wildcard address/);
    const { config } = loadConfig(['--local-ip', '0.0.0.0', '--allow-open-resolver'], ENV);
    assert.deepEqual(config.localIps, ['0.0.0.0']);
    const c = loadConfig(['--tcp-max-pending-bytes', '16384', '--tcp-message-timeout', '500ms', '--tcp-max-connections-per-client', '8',
      '--chaos-allow', '10.0.0.0/8, fd00::/8,192.0.2.7'], ENV).config;
    assert.deepEqual([c.tcpMaxPendingBytes, c.tcpMessageTimeoutMs, c.tcpMaxConnectionsPerClient], [16384, 500, 8]);
    assert.deepEqual(c.chaosAllow, ['10.0.0.0/8', 'fd00::/8', '192.0.2.7/32']);
  });

  it('take the node address as the downward API gives it, IPv6 without brackets included', () => {
    assert.equal(parseListenAddr('10.0.0.5:9253'), '10.0.0.5:9253');
    assert.equal(parseListenAddr('fd00::5:9253'), '[fd00::5]:9253');
    assert.equal(parseListenAddr('[fd00::5]:9253'), '[fd00::5]:9253');
    assert.throws(() => parseListenAddr('fd00::5'), /not host:port/);
    assert.throws(() => parseListenAddr('node-1:9253'), /"node-1" is not an IP address/);
    assert.equal(parseCidr('::1'), '::1/128');
  });
});

describe('the node itself, for upstreams/cache/config.nodedns', () => {
  const iface = (address: string): NetworkInterfaceInfo => ({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', netmask: '', mac: '', internal: false, cidr: null });
  let addrs: Record<string, NetworkInterfaceInfo[]> = { eth0: [iface('10.0.0.5'), iface('fe80::1%eth0')] };
  let now = 0;
  let config = { ...defaults(ENV), chaosAllow: ['192.0.2.0/24'] };
  const nc = new NodeClients(() => config, () => addrs, () => now);

  it('is loopback, the local addresses, the interfaces\' addresses, and --chaos-allow', () => {
    for (const ip of ['127.0.0.1', '127.9.9.9', '::1', '169.254.20.10', '10.0.0.5', 'fe80::1', '::ffff:10.0.0.5', '192.0.2.200']) assert.ok(nc.allows(ip), ip);
    for (const ip of ['10.244.1.7', '10.0.0.6', 'fd00::5', '', 'not-an-ip', '198.51.100.1']) assert.ok(!nc.allows(ip), ip);
  });

  it('follows interface changes within the refresh interval, and configuration changes at once', () => {
    addrs = { eth0: [iface('10.0.0.6')] };
    assert.ok(nc.allows('10.0.0.5'), 'read at most every 10 s');
    now += 10_001;
    assert.ok(!nc.allows('10.0.0.5'));
    assert.ok(nc.allows('10.0.0.6'));
    config = { ...config, chaosAllow: [] };
    assert.ok(!nc.allows('192.0.2.200'));
  });
});
