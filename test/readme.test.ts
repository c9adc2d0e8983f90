// The README is the operator's reference: every setting must be in it.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { OPTIONS } from '../src/config/options';

it('documents every flag in the README', () => {
  const docs = join(__dirname, '..', 'docs');
  const pages = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => readFileSync(join(docs, f), 'utf8')) : [];
  const readme = [readFileSync(join(__dirname, '..', 'README.md'), 'utf8'), ...pages].join('\n'); // the README and the docs/ pages
  const missing = OPTIONS.filter((o) => !readme.includes(`--${o.name}\``) && !readme.includes(`--[no-]${o.name}\``)).map((o) => o.name);
  assert.deepEqual(missing, []);
});
