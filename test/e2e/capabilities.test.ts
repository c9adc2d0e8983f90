// A start without the capabilities node setup and port 53 need ends with an error that
// names the missing capability, not only its symptom ("permission denied"). Run inside a network namespace this test creates, as
// an unprivileged user, and as root with CAP_NET_BIND_SERVICE dropped from the bounding set.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import { NetnsLab, netnsUnavailable } from '../helpers/netns';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
// no metrics or control listeners: only node setup, health and DNS are tried
const RUN = [CLI, 'run', '--upstream', '127.0.0.1:5353', '--metrics-addr', '', '--control-socket', ''];

describe('a start without the capabilities it needs', { skip }, () => {
  const lab = new NetnsLab();
  after(() => lab.cleanup());

  it('as an unprivileged user: names CAP_NET_ADMIN as the cause', async () => {
    const ns = await lab.add('nobody');
    const r = await ns.exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...RUN], { timeoutMs: 120_000 });
    assert.equal(r.code, 1, r.stderr);
    // checked before the lock, the addresses and the rules: the first and only error names it
    assert.match(r.stderr, /^nodedns: node setup \(the local address and the firewall rules\) needs CAP_NET_ADMIN, and nodedns runs without it \(as uid 65534\)\. Nothing on the node was changed/m);
    assert.doesNotMatch(r.stderr, /lock|permission denied/);
    assert.equal((await ns.ok('ip', ['-br', 'addr'])).includes('169.254.20.10'), false, 'no address added');
  });

  it('as root without CAP_NET_BIND_SERVICE: names it as the cause of the port 53 failure', async () => {
    const ns = await lab.add('nobind');
    const r = await ns.exec('setpriv', ['--bounding-set', '-net_bind_service', process.execPath, ...RUN, '--firewall', 'none'], { timeoutMs: 120_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot listen on udp 169\.254\.20\.10:53: permission denied/);
    assert.match(r.stderr, /nodedns: cause: nodedns runs without CAP_NET_BIND_SERVICE \(as root, but without it\)/);
  });
});
