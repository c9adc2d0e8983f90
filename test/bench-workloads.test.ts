// The benchmark's backend zones and query files: Knot must load the zones and answer each
// workload's names as the workload means (hit, fresh miss, NXDOMAIN suffix), and the query
// files must have the shape the README promises.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Processes } from '../scripts/bench/procs';
import { parseCacheCounters } from '../scripts/bench/cache-counters';
import { startKnot } from '../scripts/bench/servers';
import {
  fillNegativeQueries, fillPositiveQueries, freshHitName, freshNdotsQueries, hitQueries, missQueries, mixedQueries, ndotsQueries, newRunId,
  CLUSTER_NEGATIVE_TTL, HIT_TTL, HIT_ZONE_NEGATIVE_TTL,
} from '../scripts/bench/workloads';
import { freeEndpoint } from './helpers/ports';

const lines = (text: string) => text.trimEnd().split('\n');

describe('bench query files', () => {
  it('hits: every hit name once, type A', () => {
    const q = lines(hitQueries(1000));
    assert.equal(q.length, 1000);
    assert.equal(new Set(q).size, 1000);
    assert.equal(q[0], 'h0.example.com A');
    assert.equal(q[999], 'h999.example.com A');
  });

  it('mixed: nine in ten from the hit names, one in ten a name unique to this run', () => {
    const q = lines(mixedQueries(1000, 20_000, 'run1'));
    assert.equal(q.length, 20_000);
    const misses = q.filter((l) => l.includes('.miss.'));
    assert.equal(misses.length, 2_000);
    assert.equal(new Set(misses).size, 2_000, 'every miss name is new');
    assert.ok(misses.every((l) => /^u\d+-run1\.miss\.example\.com A$/.test(l)));
    const hits = new Set(lines(hitQueries(1000)));
    assert.ok(q.filter((l) => !l.includes('.miss.')).every((l) => hits.has(l)));
    const other = lines(mixedQueries(1000, 20_000, 'run2')).filter((l) => l.includes('.miss.'));
    assert.ok(other.every((l) => !misses.includes(l)), 'another run id gives other names');
    assert.throws(() => mixedQueries(10, 10, 'Bad Id'), /runId/);
  });

  it('miss: every name new, per line and per run, under the *.miss wildcard', () => {
    const q = lines(missQueries(5_000, 'run1'));
    assert.equal(q.length, 5_000);
    assert.equal(new Set(q).size, 5_000);
    assert.ok(q.every((l) => /^m\d+-run1\.miss\.example\.com A$/.test(l)));
    assert.ok(lines(missQueries(5_000, 'run2')).every((l) => !q.includes(l)), 'another run id gives other names');
    assert.throws(() => missQueries(10, 'Bad Id'), /runId/);
  });

  it('ndots: three search suffixes, then the name, A and AAAA each', () => {
    const q = lines(ndotsQueries(2));
    assert.deepEqual(q.slice(0, 8), [
      'h0.example.com.ns.svc.cluster.local A', 'h0.example.com.ns.svc.cluster.local AAAA',
      'h0.example.com.svc.cluster.local A', 'h0.example.com.svc.cluster.local AAAA',
      'h0.example.com.cluster.local A', 'h0.example.com.cluster.local AAAA',
      'h0.example.com A', 'h0.example.com AAAA',
    ]);
    assert.equal(q.length, 16);
  });

  it('ndots together: the same burst, every name new to this run and none under the cluster domain', () => {
    const q = lines(freshNdotsQueries(2, 'run1'));
    assert.deepEqual(q.slice(0, 8), [
      'n0-run1.miss.example.com.ns.svc.run1.example.com A', 'n0-run1.miss.example.com.ns.svc.run1.example.com AAAA',
      'n0-run1.miss.example.com.svc.run1.example.com A', 'n0-run1.miss.example.com.svc.run1.example.com AAAA',
      'n0-run1.miss.example.com.run1.example.com A', 'n0-run1.miss.example.com.run1.example.com AAAA',
      'n0-run1.miss.example.com A', 'n0-run1.miss.example.com AAAA',
    ]);
    assert.equal(q.length, 16);
    const other = new Set(lines(freshNdotsQueries(2, 'run2')));
    assert.ok(q.every((l) => !other.has(l)), 'another run id gives other names');
    assert.throws(() => freshNdotsQueries(1, 'Bad Id'), /runId/);
  });

  it('hits and mixed together: each set of names new, and nearly as short as the hit names', () => {
    const q = lines(hitQueries(1000, freshHitName(0)));
    assert.equal(new Set(q).size, 1000);
    assert.deepEqual([q[0], q[999]], ['aa0.t.example.com A', 'aa999.t.example.com A']);
    assert.equal(q[999].length - 'h999.example.com A'.length, 3);
    assert.equal(freshHitName(27)(5), 'bb5.t.example.com');
    const sets = new Set(Array.from({ length: 676 }, (_, n) => freshHitName(n)(0)));
    assert.equal(sets.size, 676, 'every set its own names');
    assert.throws(() => freshHitName(676), /0-675/);
    const m = lines(mixedQueries(1000, 20, 'run1', freshHitName(3)));
    assert.deepEqual([m[0], m[8], m[9]], ['ad0.t.example.com A', 'ad8.t.example.com A', 'u9-run1.miss.example.com A']);
  });

  it('reads nodedns\' cache counters from its CH TXT cache.nodedns answer', () => {
    const text = '"entries=12" "success=5/9984" "denial=7/9984" "hits=1000" "misses=12" "stale-served=0" "evictions=0" "prefetches=3" "coalesced=0"';
    assert.deepEqual(parseCacheCounters(text), { refreshes: 3, misses: 12 });
    assert.equal(parseCacheCounters('"entries=12" "misses=12"'), undefined, 'no prefetches: not known, never 0');
    assert.equal(parseCacheCounters(''), undefined);
  });

  it('memory fill: distinct names', () => {
    assert.equal(new Set(lines(fillPositiveQueries(10_000))).size, 10_000);
    assert.equal(new Set(lines(fillNegativeQueries(10_000))).size, 10_000);
  });

  it('run ids are short, distinct and safe in a DNS label', () => {
    const a = newRunId(1_700_000_000_000, 0.1);
    const b = newRunId(1_700_000_000_000, 0.2);
    assert.notEqual(a, b);
    assert.match(a, /^[a-z0-9]{5,20}$/);
    assert.doesNotThrow(() => mixedQueries(1, 10, newRunId()));
  });
});

describe('bench backend (real Knot)', () => {
  let procs: Processes;
  let dir: string;
  let ip = '';
  let port = 0;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-knot-'));
    procs = new Processes(dir);
    const ep = await freeEndpoint();
    ip = ep.address;
    port = ep.port;
    await startKnot(procs, { ip, port }, dir, 50);
  });
  after(async () => {
    await procs.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const dig = (name: string, type: string) =>
    execFileSync('dig', [`@${ip}`, '-p', String(port), '+norec', '+tries=1', '+time=2', name, type], { encoding: 'utf8' });

  it('answers hit names with A and AAAA and their TTL', () => {
    const a = dig('h7.example.com', 'A');
    assert.match(a, /status: NOERROR/);
    assert.match(a, new RegExp(`h7\\.example\\.com\\.\\s+${HIT_TTL}\\s+IN\\s+A\\s+10\\.0\\.0\\.7`));
    assert.match(dig('h7.example.com', 'AAAA'), /IN\s+AAAA\s+fd00::7/);
  });

  it('answers any never-seen name under miss. (the mixed workload)', () => {
    assert.match(dig(`u1-${newRunId()}.miss.example.com`, 'A'), /IN\s+A\s+10\.250\.0\.1/);
    assert.match(dig(lines(missQueries(1, newRunId()))[0].split(' ')[0], 'A'), /IN\s+A\s+10\.250\.0\.1/);
    assert.match(dig('f9999.fill.example.com', 'A'), /IN\s+A\s+10\.251\.0\.1/);
  });

  it('answers the fresh hit names of the runs together (*.t)', () => {
    assert.match(dig(freshHitName(9)(123), 'A'), new RegExp(`\\s${HIT_TTL}\\s+IN\\s+A\\s+10\\.252\\.0\\.1`));
  });

  it('denies the search-suffix names with the cluster SOA (5 s) and the fill names with NXDOMAIN', () => {
    const nx = dig('h7.example.com.ns.svc.cluster.local', 'AAAA');
    assert.match(nx, /status: NXDOMAIN/);
    assert.match(nx, new RegExp(`cluster\\.local\\.\\s+${CLUSTER_NEGATIVE_TTL}\\s+IN\\s+SOA`));
    assert.match(dig('nx42.example.com', 'A'), /status: NXDOMAIN/);
  });

  it('answers the ndots-together burst: long-lived NXDOMAINs for the suffixes, the name from *.miss', () => {
    const [suffixed, , , , , , name] = lines(freshNdotsQueries(1, 'run1')).map((l) => l.split(' ')[0]);
    const nx = dig(suffixed, 'A');
    assert.match(nx, /status: NXDOMAIN/);
    // denied for the SOA's own TTL, the lower of it and its minimum (RFC 2308 §5)
    assert.match(nx, new RegExp(`example\\.com\\.\\s+${HIT_TTL}\\s+IN\\s+SOA\\s.* ${HIT_ZONE_NEGATIVE_TTL}\\n`));
    assert.match(dig(name, 'AAAA'), new RegExp(`\\s${HIT_TTL}\\s+IN\\s+AAAA\\s+fd00:250::1`));
  });
});
