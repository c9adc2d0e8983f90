// The README is the operator's reference: every setting must be in it.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { OPTIONS } from '../src/config/options';

it('documents every flag in the README', () => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const missing = OPTIONS.filter((o) => !readme.includes(`--${o.name}\``) && !readme.includes(`--[no-]${o.name}\``)).map((o) => o.name);
  assert.deepEqual(missing, []);
});
