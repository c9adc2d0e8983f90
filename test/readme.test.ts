// The README and the pages under docs/ are the operator's reference: every setting must be in them.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { OPTIONS } from '../src/config/options';

it('documents every flag in the README or docs/', () => {
  const docs = join(__dirname, '..', 'docs');
  const pages = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => join(docs, f)) : [];
  const readme = [join(__dirname, '..', 'README.md'), ...pages].map((f) => readFileSync(f, 'utf8')).join('\n');
  const missing = OPTIONS.filter((o) => !readme.includes(`--${o.name}\``) && !readme.includes(`--[no-]${o.name}\``)).map((o) => o.name);
  assert.deepEqual(missing, []);
});
