// A unified diff (as `diff -u` prints it) for --dry-run. Kubelet files are small;
// the common head and tail are trimmed first, so the quadratic part only sees the
// few lines that changed, and it is capped so a huge file cannot eat memory.

const MAX_CELLS = 4_000_000; // LCS table cells: 2000 x 2000 changed lines
const CONTEXT = 3;

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function editScript(a: string[], b: string[]): Op[] | undefined {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  if ((am.length + 1) * (bm.length + 1) > MAX_CELLS) return undefined;
  // lcs[i][j] = length of the LCS of am[i..] and bm[j..]
  const w = bm.length + 1;
  const lcs = new Uint32Array((am.length + 1) * w);
  for (let i = am.length - 1; i >= 0; i--) {
    for (let j = bm.length - 1; j >= 0; j--) {
      lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const ops: Op[] = [];
  for (let k = 0; k < head; k++) ops.push({ kind: ' ', line: a[k], a: k, b: k });
  let i = 0;
  let j = 0;
  while (i < am.length || j < bm.length) {
    if (i < am.length && j < bm.length && am[i] === bm[j]) {
      ops.push({ kind: ' ', line: am[i], a: head + i, b: head + j });
      i++;
      j++;
    } else if (i < am.length && (j === bm.length || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) {
      ops.push({ kind: '-', line: am[i], a: head + i, b: head + j });
      i++;
    } else {
      ops.push({ kind: '+', line: bm[j], a: head + i, b: head + j });
      j++;
    }
  }
  for (let k = 0; k < tail; k++) {
    ops.push({ kind: ' ', line: a[a.length - tail + k], a: a.length - tail + k, b: b.length - tail + k });
  }
  return ops;
}

/** `diff -u` output between two texts; '' when they are equal. */
export function unifiedDiff(before: string, after: string, nameBefore: string, nameAfter: string): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = editScript(a, b);
  const header = `--- ${nameBefore}\n+++ ${nameAfter}\n`;
  if (!ops) return `${header}@@ file too large to diff (${a.length} -> ${b.length} lines) @@\n`;
  const out: string[] = [header];
  let k = 0;
  while (k < ops.length) {
    if (ops[k].kind === ' ') { k++; continue; }
    // a hunk: from CONTEXT lines before this change to CONTEXT lines after the last change
    // that is at most 2*CONTEXT unchanged lines away
    const start = Math.max(0, k - CONTEXT);
    let end = k;
    let lastChange = k;
    while (end < ops.length && end - lastChange <= 2 * CONTEXT + 1) {
      if (ops[end].kind !== ' ') lastChange = end;
      end++;
    }
    end = Math.min(ops.length, lastChange + CONTEXT + 1);
    const hunk = ops.slice(start, end);
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    const aStart = aLen === 0 ? hunk[0].a : hunk[0].a + 1;
    const bStart = bLen === 0 ? hunk[0].b : hunk[0].b + 1;
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@\n`);
    for (const o of hunk) out.push(`${o.kind}${o.line}\n`);
    k = end;
  }
  return out.join('');
}
