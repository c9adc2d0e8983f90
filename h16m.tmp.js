const what = process.argv[2];
for (const w of what.split(',')) if (w !== 'none') require(w);
global.gc && gc();
setTimeout(() => { const m = process.memoryUsage(); const s = require('fs').readFileSync('/proc/self/status','utf8'); const g = (f) => (Number(new RegExp(f+':\\s+(\\d+)').exec(s)[1])/1024).toFixed(1); console.log(what.padEnd(40), 'rss', g('VmRSS'), 'anon', g('RssAnon'), 'file', g('RssFile'), 'heapUsed', (m.heapUsed/1048576).toFixed(1)); }, 300);
