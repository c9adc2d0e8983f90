// The benchmark's reading of dnsperf output: closing statistics, per-query latencies, percentiles.
// Checked on text that dnsperf 2.10 printed, and on a live dnsperf run against an in-test responder.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { cannedReply } from '../scripts/bench/ceiling';
import { dnsperfArgs, parseStats, parseVerboseLatencies, percentile, summarizeLatencies } from '../scripts/bench/dnsperf';

const SAMPLE = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.53 -p 5300 -d q.txt -n 2 -v
[Status] Sending queries (to 127.0.0.53:5300)
[Status] Started at: Sat Nov 21 12:05:30 2026
[Status] Stopping after 2 runs through file
> NOERROR h1.bench.test A 0.000408
> NXDOMAIN zz.bench.test A 0.000189
> NOERROR h1.bench.test AAAA 0.000165
> NOERROR h1.bench.test A 0.000065
> NXDOMAIN zz.bench.test A 0.000057
> SERVFAIL h1.bench.test AAAA 0.000125
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         7
  Queries completed:    6 (85.71%)
  Queries lost:         1 (14.29%)

  Response codes:       NOERROR 3 (50.00%), NXDOMAIN 2 (33.33%), SERVFAIL 1 (16.67%)
  Average packet size:  request 31, response 60
  Run time (s):         0.002023
  Queries per second:   2965.892239

  Average Latency (s):  0.000168 (min 0.000057, max 0.000408)
  Latency StdDev (s):   0.000129

`;

describe('dnsperf output', () => {
  it('reads the closing statistics', () => {
    const s = parseStats(SAMPLE);
    assert.equal(s.sent, 7);
    assert.equal(s.completed, 6);
    assert.equal(s.lost, 1);
    assert.equal(s.qps, 2965.892239);
    assert.equal(s.runTimeS, 0.002023);
    assert.ok(Math.abs(s.avgLatencyMs - 0.168) < 1e-9);
    assert.ok(Math.abs(s.minLatencyMs - 0.057) < 1e-9);
    assert.ok(Math.abs(s.maxLatencyMs - 0.408) < 1e-9);
    assert.ok(Math.abs(s.stddevLatencyMs - 0.129) < 1e-9);
    assert.deepEqual(s.rcodes, { NOERROR: 3, NXDOMAIN: 2, SERVFAIL: 1 });
  });

  it('says what is wrong with output that is not dnsperf statistics', () => {
    assert.throws(() => parseStats('dnsperf: failed to open q.txt'), /no "Queries completed" line/);
  });

  it('reads one latency per answered query, ignoring status lines', () => {
    const l = parseVerboseLatencies(SAMPLE);
    assert.deepEqual([...l], [0.000408, 0.000189, 0.000165, 0.000065, 0.000057, 0.000125]);
    assert.equal(parseVerboseLatencies('').length, 0);
    assert.deepEqual([...parseVerboseLatencies('> NOERROR a A 0.5')], [0.5]); // no final newline
  });

  it('takes nearest-rank percentiles', () => {
    const s = Float64Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    assert.equal(percentile(s, 50), 50);
    assert.equal(percentile(s, 99), 99);
    assert.equal(percentile(s, 100), 100);
    assert.equal(percentile(s, 0), 1);
    assert.equal(percentile(Float64Array.of(7), 99), 7);
    assert.ok(Number.isNaN(percentile(new Float64Array(0), 99)));
    const sum = summarizeLatencies(Float64Array.from({ length: 1000 }, (_, i) => (1000 - i) / 1000)); // unsorted, seconds
    assert.equal(sum.count, 1000);
    assert.equal(sum.p50Ms, 500);
    assert.equal(sum.p99Ms, 990);
    assert.equal(sum.p999Ms, 999);
  });

  it('builds the dnsperf command line pinned to a CPU', () => {
    assert.deepEqual(
      dnsperfArgs({ server: '127.0.0.9', port: 5300, file: '/tmp/q', durationS: 10, outstanding: 100, rateQps: 20000, verbose: true }, 1),
      ['-c', '1', 'dnsperf', '-s', '127.0.0.9', '-p', '5300', '-d', '/tmp/q', '-q', '100', '-l', '10', '-Q', '20000', '-t', '2', '-v'],
    );
  });

  it('parses a real dnsperf run against a canned responder', async (t) => {
    const sock = dgram.createSocket('udp4');
    const canned = cannedReply();
    sock.on('message', (msg, rinfo) => {
      const out = Buffer.from(canned);
      msg.copy(out, 0, 0, 2);
      sock.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    t.after(() => sock.close());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-dnsperf-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'q.txt');
    fs.writeFileSync(file, Array.from({ length: 50 }, (_, i) => `h${i}.example.com A`).join('\n') + '\n');
    const port = (sock.address() as { port: number }).port;
    // Async spawn: the responder lives in this process and must keep answering meanwhile.
    const { spawn } = await import('node:child_process');
    const child = spawn('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-n', '2', '-l', '10', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0, out);
    const s = parseStats(out);
    assert.equal(s.sent, 100);
    assert.equal(s.completed, 100);
    assert.equal(s.lost, 0);
    assert.deepEqual(s.rcodes, { NOERROR: 100 });
    assert.ok(s.qps > 0);
    const l = parseVerboseLatencies(out);
    assert.equal(l.length, 100);
    assert.ok(l.every((x) => x > 0 && x < 5));
    assert.ok(Math.abs(summarizeLatencies(l).p50Ms - percentile(Float64Array.from(l).sort(), 50) * 1000) < 1e-12);
  });
});

// dnsperf is a Debian package the benchmark needs: say so plainly if it is missing.
if (spawnSync('sh', ['-c', 'command -v dnsperf']).status !== 0) {
  console.error('dnsperf is not installed: run "make test-deps"');
}
