// docs/flags.md is generated from the flag definitions; these keep the two from drifting
// (other branches add flags: after a merge, `make docs` brings the page up to date).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { FLAGS_DOC, renderFlagsDoc } from '../scripts/docs-flags';
import { OPTIONS, type Option } from '../src/config/options';

it('docs/flags.md is what `make docs` generates from src/config/options.ts', () => {
  const have = readFileSync(FLAGS_DOC, 'utf8');
  assert.ok(have === renderFlagsDoc(), 'docs/flags.md is out of date with src/config/options.ts: run "make docs" and commit docs/flags.md');
});

it('the reference has one row per flag, --config included, with its default and environment variable', () => {
  const doc = renderFlagsDoc();
  const rows = doc.split('\n').filter((l) => l.startsWith('| `--'));
  assert.equal(rows.length, OPTIONS.length + 1);
  assert.match(rows[0], /^\| `--config FILE` \|.*\| `NODEDNS_CONFIG` \|$/);
  for (const o of OPTIONS) {
    const row = rows.find((r) => r.startsWith(`| \`--${o.name}\``) || r.startsWith(`| \`--[no-]${o.name}\``));
    assert.ok(row, `no row for --${o.name}`);
    if (o.def !== '') assert.ok(row.includes(`| \`${o.def}\` |`), `--${o.name}: default ${o.def} not in ${row}`);
    assert.ok(row.includes(`\`NODEDNS_${o.name.toUpperCase().replace(/-/g, '_')}\``), row);
  }
  for (const name of ['loop-check-interval', 'tcp-max-connections']) assert.ok(rows.some((r) => r.startsWith(`| \`--${name}\``)), name);
});

it('a flag added to the definitions makes the committed page stale', () => {
  const added: Option = { name: 'example-new-flag', def: '7', help: 'a flag another branch adds', apply: () => {} };
  const doc = renderFlagsDoc([...OPTIONS, added]);
  assert.notEqual(doc, readFileSync(FLAGS_DOC, 'utf8'));
  assert.ok(doc.includes('| `--example-new-flag` | `7` | a flag another branch adds | `NODEDNS_EXAMPLE_NEW_FLAG` |'));
});

it('a table cell cannot be broken by a | in a help text', () => {
  const doc = renderFlagsDoc([{ name: 'x', def: 'a|b', help: 'one | two', apply: () => {} }]);
  assert.ok(doc.includes('| `--x` | `a\\|b` | one \\| two | `NODEDNS_X` |'));
});
