import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ndotsOf, parseResolvConf } from '../src/config/resolvconf';
import { discoverUpstreams } from '../src/config/upstreams';
import { ConfigError } from '../src/config/types';

const roots: string[] = [];
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

function hostRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'nodedns-root-'));
  roots.push(root);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

const STUB = '# This file is managed by man:systemd-resolved(8). Do not edit.\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n';

describe('resolv.conf', () => {
  it('parses like libc: last search/domain wins, options, comments', () => {
    const rc = parseResolvConf('domain a.example\nsearch b.example c.example. ; old\nnameserver 10.0.0.1 # primary\nnameserver fe80::1%eth0\noptions ndots:5 rotate\n');
    assert.deepEqual(rc.nameservers, ['10.0.0.1', 'fe80::1']);
    assert.deepEqual(rc.search, ['b.example', 'c.example']);
    assert.deepEqual(rc.options, { ndots: '5', rotate: true });
    assert.equal(ndotsOf(rc), 5);
    assert.equal(ndotsOf(parseResolvConf('')), 1);
  });
});

describe('host upstream discovery (seed 000)', () => {
  it('skips the systemd-resolved stub and reads the real upstreams', () => {
    const root = hostRoot({ 'etc/resolv.conf': STUB, 'run/systemd/resolve/resolv.conf': 'nameserver 10.0.0.2\nnameserver 10.0.0.3\n' });
    const d = discoverUpstreams(root, ['169.254.20.10']);
    assert.deepEqual(d.upstreams.map((e) => e.host), ['10.0.0.2', '10.0.0.3']);
    assert.equal(d.source, join(root, 'run/systemd/resolve/resolv.conf'));
    assert.deepEqual(d.skipped.map((s) => s.host), ['127.0.0.53']);
  });

  it('never forwards to its own address (a loop)', () => {
    const root = hostRoot({ 'etc/resolv.conf': 'nameserver 169.254.20.10\nnameserver 10.0.0.9\n' });
    const d = discoverUpstreams(root, ['169.254.20.10']);
    assert.deepEqual(d.upstreams.map((e) => e.host), ['10.0.0.9']);
    assert.match(d.skipped[0].reason, /loop/);
  });

  it('keeps other loopback upstreams with a warning', () => {
    const root = hostRoot({ 'etc/resolv.conf': 'nameserver 127.0.0.1\n' });
    const d = discoverUpstreams(root, ['169.254.20.10']);
    assert.deepEqual(d.upstreams.map((e) => e.host), ['127.0.0.1']);
    assert.match(d.warnings[0], /loopback.*never from a pod/);
  });

  it('refuses with the files read and what to set when nothing is usable', () => {
    const root = hostRoot({ 'etc/resolv.conf': STUB });
    assert.throws(() => discoverUpstreams(root, ['169.254.20.10']), (e: Error) =>
      e instanceof ConfigError && e.message.includes('etc/resolv.conf') && e.message.includes('run/systemd/resolve/resolv.conf') && /--upstream/.test(e.message));
    const empty = hostRoot({ 'etc/resolv.conf': 'nameserver 169.254.20.10\n' });
    assert.throws(() => discoverUpstreams(empty, ['169.254.20.10']), /no usable upstream .*169\.254\.20\.10 \(one of nodedns' own addresses/);
    assert.throws(() => discoverUpstreams(join(empty, 'nope'), ['169.254.20.10']), /cannot read .*--upstream/);
  });
});
