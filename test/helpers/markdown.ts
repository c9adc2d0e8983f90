// Reading the README and docs pages as an operator would: code blocks, inline code, headings.
// Used by test/readme.test.ts and test/e2e/readme-commands.test.ts.

export interface Block { lang: string; lines: string[]; line: number }

/** Fenced code blocks, with the indentation of their fence taken off (blocks inside list items). */
export function codeBlocks(md: string): Block[] {
  const out: Block[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(\S*)/.exec(lines[i]);
    if (!open) continue;
    const indent = lines[i].indexOf('```');
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent));
    out.push({ lang: open[1], lines: body, line: i + 1 });
    i = j;
  }
  return out;
}

/** A block whose first line is "# needs …" (a cluster, root on a node, a registry) is not run by the tests. */
export const needsSomething = (b: Block) => /^# needs /.test(b.lines[0] ?? '');

/** A command line without its trailing comment ("cmd   # why"). */
export const stripComment = (l: string) => l.replace(/\s{2,}#.*$/, '').trim();

const withoutBlocks = (md: string) => md.replace(/^\s*```[\s\S]*?^\s*```\s*$/gm, '');

/** Inline code spans of the prose (code blocks taken out). */
export function inlineSpans(md: string): string[] {
  return [...withoutBlocks(md).matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
export function anchors(md: string): Set<string> {
  const out = new Set<string>();
  for (const m of withoutBlocks(md).matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return out;
}
