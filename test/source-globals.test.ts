// Node.js 24 defines the globals `Buffer`, `process` and `performance` as getters on globalThis:
// every use of the bare name runs the getter, and in a hit's optimized code that was a call
// through V8's global-load IC per reply (perf, make bench's hits together). Modules take
// Buffer from node:buffer instead (a plain property), as src/cache/clock.ts binds performance.now once.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

it('every module of src that uses Buffer as a value imports it from node:buffer', () => {
  const src = join(__dirname, '..', 'src');
  const missing = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => {
    if (!f.endsWith('.ts')) return false;
    const text = readFileSync(join(src, f), 'utf8').replace(/\/\/.*$/gm, '');
    return /\bBuffer\.[a-zA-Z]+\(/.test(text) && !/^import \{[^}]*\bBuffer\b[^}]*\} from 'node:buffer';$/m.test(text);
  });
  assert.deepEqual(missing, [], 'add: import { Buffer } from \'node:buffer\';');
});
