// The --dry-run diff against GNU `diff -u` itself, on edits whose best alignment is
// unique (every line distinct), so both must print the same hunks.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, after } from 'node:test';
import { unifiedDiff } from '../src/kubelet/diff';

const dir = mkdtempSync(join(tmpdir(), 'nodedns-diff-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function gnuDiff(a: string, b: string): string {
  writeFileSync(join(dir, 'a'), a);
  writeFileSync(join(dir, 'b'), b);
  const p = spawnSync('diff', ['-u', join(dir, 'a'), join(dir, 'b')], { encoding: 'utf8' });
  if (p.error) throw p.error;
  return p.stdout.split('\n').slice(2).join('\n'); // drop the ---/+++ lines (they carry times)
}

function ours(a: string, b: string): string {
  return unifiedDiff(a, b, 'a', 'b').split('\n').slice(2).join('\n');
}

/** small deterministic PRNG so a failure can be replayed */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
  });

  it('prints what diff -u prints, for 200 random edits', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = rng(seed);
      const n = 1 + Math.floor(rand() * 60);
      const a = Array.from({ length: n }, (_, i) => `line ${i}`);
      const b: string[] = [];
      let added = 0;
      for (const line of a) {
        const r = rand();
        if (r < 0.1) continue; // deleted
        if (r < 0.2) { b.push(`changed ${line}`); continue; }
        if (r < 0.27) b.push(`new ${added++}`);
        b.push(line);
      }
      if (rand() < 0.3) b.push(`new ${added++}`);
      const ta = a.join('\n') + '\n';
      const tb = b.join('\n') + (b.length ? '\n' : '');
      assert.equal(ours(ta, tb), gnuDiff(ta, tb), `seed ${seed}`);
    }
  });
});
