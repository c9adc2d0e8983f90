// Preload for a Node.js server under test: V8's sampling heap profiler from start to exit,
// counting objects the collector has freed as well, so that the profile shows what a query
// allocates, not only what it keeps. Written at exit to $NODEDNS_HEAP_SAMPLE_DIR (default /tmp)
// as heap-<pid>.heapprofile; read it with scripts/bench/heap-sites.ts. A tool, never shipped:
//   node --import tsx scripts/bench/pair.ts --workload miss --rounds 1 \
//     --a-node-flags '--require ./scripts/bench/heap-sample.cjs' --b-node-flags '--require ./scripts/bench/heap-sample.cjs'
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const inspector = require('node:inspector');

const dir = process.env.NODEDNS_HEAP_SAMPLE_DIR || '/tmp';
const INTERVAL = 256; // bytes between samples, on average: fine enough for objects of a few dozen bytes
const session = new inspector.Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', {
  samplingInterval: INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true,
});
// A session on this thread answers synchronously, so the profile is written before the process ends.
process.on('exit', () => {
  session.post('HeapProfiler.stopSampling', (err, r) => {
    const file = path.join(dir, `heap-${process.pid}.heapprofile`);
    try {
      // Each node's selfSize already sums its samples: the list of samples (tens of MB) stays out.
      fs.writeFileSync(file, JSON.stringify(err ? { error: String(err) } : { head: r.profile.head }));
    } catch (e) {
      process.stderr.write(`heap-sample: cannot write ${file}: ${e.message}\n`);
    }
  });
});
