// Restart under load, for real: dnsperf from the pod namespace at a steady rate while
// nodedns is stopped with SIGTERM and started again. The fallback carries the traffic
// in between; the test reports lost queries (target 0) and the longest gap seen by a
// prober that sends a query every 20 ms from a fresh source port.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import {
  NetnsLab, TOPO, topologyWithClusterDns, netnsUnavailable, parseDnsperf, spawnNodedns, startProbe,
  type NodeTopology,
} from '../helpers/netns';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;
const QPS = 300;
const SECONDS = 12;

for (const flag of ['iptables', 'nftables']) {
  describe(`restart under load (${flag})`, { skip, timeout: 120_000 }, () => {
    const lab = new NetnsLab();
    let t: NodeTopology;
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-restart-'));
    const queries = join(dir, 'queries.txt');
    const args = ['run', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--upstream', TOPO.serviceIp, '--firewall', flag,
      '--metrics-addr', '', '--health-addr', '', '--control-socket', ''];

    before(async () => {
      writeFileSync(queries, ['svc.cluster.local A', 'who.test TXT', 'svc.cluster.local AAAA', 'nx.cluster.local A'].join('\n') + '\n');
      t = await topologyWithClusterDns(lab);
    });
    after(async () => {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it(`loses no query while nodedns is stopped and started again (${QPS} qps from dnsperf)`, async (tc) => {
      const first = spawnNodedns(t.node, CLI, args, 'nodedns (first)');
      await first.waitForLog('NOTRACK rules in place');
      const perf = t.pod.spawn('dnsperf', 'dnsperf', ['-s', L, '-d', queries, '-Q', String(QPS), '-l', String(SECONDS), '-t', '2', '-c', '4']);
      const probe = startProbe(t.pod, { server: L, name: 'svc.cluster.local', durationMs: SECONDS * 1000, retryMs: 200 });
      await new Promise((r) => setTimeout(r, 2500));
      const t0 = Date.now();
      const st = await first.child.stop('SIGTERM', 15_000);
      assert.equal(st.code, 0, first.child.tail());
      const stoppedMs = Date.now() - t0;
      const second = spawnNodedns(t.node, CLI, args, 'nodedns (second)');
      try {
        await second.waitForLog('NOTRACK rules in place');
        const fallbackMs = Date.now() - t0;
        const ps = await perf.exited;
        assert.equal(ps.code, 0, perf.tail());
        const d = parseDnsperf(perf.lines.join('\n'));
        const p = await probe.result;
        tc.diagnostic(`${flag}: restart under load: dnsperf ${d.sent} sent, ${d.completed} completed, ${d.lost} lost; `
          + `probe ${p.sent} sent, ${p.firstTry} first try, lost ${p.lost}, longest gap ${p.longestGapMs} ms, max latency ${p.maxLatencyMs} ms; `
          + `old process stopped in ${stoppedMs} ms, fallback carried DNS for ${fallbackMs} ms`);
        assert.ok(d.sent >= QPS * SECONDS * 0.8, `dnsperf kept its rate (${d.sent} sent)`);
        assert.equal(d.lost, 0, 'dnsperf lost no query');
        assert.equal(p.lost, 0, 'the prober lost no query');
        // a clean stop has no window at all; allow a stray timeout on a busy machine, nothing more
        assert.ok(p.sent - p.firstTry <= 2, `first tries failed: ${p.sent - p.firstTry} at ${JSON.stringify(p.failedAt)} ms`);
        assert.ok(p.longestGapMs < 500, `longest gap ${p.longestGapMs} ms`);
      } finally {
        await second.child.stop('SIGTERM', 15_000);
      }
    });
  });
}
