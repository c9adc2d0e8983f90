// What nodedns says when it stops names the fallback only when there is one: with no
// cluster DNS configured, no rule can take DNS while it is down, and the log says so.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import { NetnsLab, TOPO, netnsUnavailable, spawnNodedns, startClusterDns } from '../helpers/netns';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const UP = '10.96.0.53';

describe('the stop message', { skip }, () => {
  const lab = new NetnsLab();
  after(() => lab.cleanup());

  for (const clusterDns of [false, true]) {
    it(clusterDns ? 'with a cluster DNS: the fallback stays in place' : 'without a cluster DNS: no fallback, and it says so', async () => {
      const node = await lab.add(clusterDns ? 'with' : 'without');
      await node.ok('ip', ['addr', 'add', `${UP}/32`, 'dev', 'lo']);
      startClusterDns(node, [UP], { records: {}, who: 'up' });
      const nd = spawnNodedns(node, CLI, ['run', '--local-ip', TOPO.localIp, '--upstream', UP, ...(clusterDns ? ['--cluster-dns', UP] : []),
        '--firewall', 'iptables', '--metrics-addr', '', '--health-addr', '', '--control-socket', '']);
      await nd.waitForLog('NOTRACK rules in place');
      nd.child.proc.kill('SIGTERM');
      const stopped = String((await nd.waitForLog('stopped;')).msg);
      const stopping = String((await nd.waitForLog('stopping:')).msg);
      if (clusterDns) {
        assert.match(stopped, /the fallback rules stay in place/);
        assert.match(stopping, /handing DNS to the fallback/);
      } else {
        assert.match(stopped, /no fallback \(no cluster DNS is configured: --cluster-dns\)/);
        assert.doesNotMatch(stopping + stopped, /cluster DNS until|handing DNS to the fallback|fallback rules stay/);
        assert.doesNotMatch(String((await nd.waitForLog('NOTRACK rules removed')).msg), /sends DNS to the cluster DNS/);
      }
      await nd.child.exited;
    });
  }
});
