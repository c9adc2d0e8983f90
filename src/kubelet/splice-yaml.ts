// clusterDNS in a KubeletConfiguration file, edited in place. The yaml package tells
// where the value sits in the source; the new value is spliced into the original
// text there, so comments, order, quoting and spacing stay byte for byte (writing the
// parsed document back out would reformat the whole file).
import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, isSeq, parseAllDocuments, type Document, type Pair, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';

export class KubeletFileError extends Error {
  override name = 'KubeletFileError';
}

const KEY = 'clusterDNS';

interface Located {
  docs: Document.Parsed[];
  doc: Document.Parsed;
  map: YAMLMap;
  pair?: Pair;
}

function lineOf(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

function locate(text: string, where: string): Located {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new KubeletFileError(`${where}: not a YAML stream`);
  for (const d of docs) {
    const err = d.errors[0];
    if (err) {
      const first = err.message.split('\n')[0];
      throw new KubeletFileError(`${where}: not valid YAML (${first})`);
    }
  }
  const maps = docs.filter((d) => isMap(d.contents));
  const doc = maps.find((d) => (d.contents as YAMLMap).get('kind') === 'KubeletConfiguration')
    ?? (maps.length === 1 && (maps[0].contents as YAMLMap).get('kind') === undefined ? maps[0] : undefined);
  if (!doc) {
    throw new KubeletFileError(`${where}: no document with "kind: KubeletConfiguration" in it; is this the kubelet's config file?`);
  }
  const map = doc.contents as YAMLMap;
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === KEY) as Pair | undefined;
  return { docs, doc, map, pair };
}

export interface KubeletYaml {
  /** undefined when the file has no clusterDNS key; [] when the key has no value */
  clusterDns?: string[];
  resolvConf?: string;
}

/** Reads the settings nodedns cares about; throws KubeletFileError for a file it must not touch. */
export function readKubeletYaml(text: string, where: string): KubeletYaml {
  const { map, pair } = locate(text, where);
  const rc = map.get('resolvConf');
  const out: KubeletYaml = { resolvConf: typeof rc === 'string' ? rc : undefined };
  if (!pair) return out;
  out.clusterDns = valueList(pair, text, where);
  return out;
}

function valueList(pair: Pair, text: string, where: string): string[] {
  const v = pair.value;
  if (v === null || v === undefined || (isScalar(v) && v.value === null)) return [];
  if (isSeq(v) && v.items.every((i) => isScalar(i) && (typeof i.value === 'string' || typeof i.value === 'number'))) {
    return v.items.map((i) => String((i as Scalar).value));
  }
  const line = lineOf(text, (pair.key as Scalar).range?.[0] ?? 0);
  throw new KubeletFileError(`${where} line ${line}: clusterDNS must be a list of IP addresses (clusterDNS: [10.96.0.10]); fix it by hand`);
}

function lineStart(text: string, pos: number): number {
  return text.lastIndexOf('\n', pos - 1) + 1;
}

function lineEnd(text: string, pos: number): number {
  const n = text.indexOf('\n', pos);
  return n < 0 ? text.length : n;
}

type Style = Scalar.Type | undefined;

function renderScalar(v: string, style: Style): string {
  if (style === 'QUOTE_DOUBLE') return JSON.stringify(v);
  if (style === 'QUOTE_SINGLE') return `'${v}'`;
  // a plain scalar may not start with ':' followed by nothing useful to YAML (IPv6 "::1")
  return v.startsWith(':') ? JSON.stringify(v) : v;
}

function renderFlow(values: string[], style: Style, sep: string, pad: string): string {
  if (values.length === 0) return '[]';
  return `[${pad}${values.map((v) => renderScalar(v, style)).join(sep)}${pad}]`;
}

interface Edit { start: number; end: number; text: string }

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** The style of a flow collection as written: "[a, b]" or "[ a,b ]". */
function flowStyle(text: string, seq: YAMLSeq): { sep: string; pad: string; style: Style } {
  const [start, end] = seq.range!;
  const inner = text.slice(start + 1, end - 1);
  const pad = /^\s/.test(inner) && !inner.includes('\n') ? ' ' : '';
  const sep = inner.includes(',') && !/,\s/.test(inner) ? ',' : ', ';
  const first = seq.items[0] as Scalar | undefined;
  return { sep, pad, style: first?.type };
}

function blockSeqEdits(text: string, seq: YAMLSeq, values: string[]): Edit[] | undefined {
  const items = seq.items as Scalar[];
  const first = items[0].range!;
  const prefix = text.slice(lineStart(text, first[0]), first[0]);
  if (!/^[ \t]*-[ \t]+$/.test(prefix)) return undefined; // "key: - x" or nested forms: not ours to guess
  const edits: Edit[] = [];
  const n = Math.min(items.length, values.length);
  for (let i = 0; i < n; i++) {
    const r = items[i].range!;
    if (String(items[i].value) !== values[i]) edits.push({ start: r[0], end: r[1], text: renderScalar(values[i], items[i].type) });
  }
  const last = items[items.length - 1].range!;
  if (values.length > items.length) {
    const at = lineEnd(text, last[1]);
    const added = values.slice(items.length).map((v) => `\n${prefix}${renderScalar(v, items[0].type)}`).join('');
    edits.push({ start: at, end: at, text: added });
  } else if (values.length < items.length) {
    const from = lineStart(text, items[values.length].range![0]);
    const to = lineEnd(text, last[1]);
    edits.push({ start: from, end: Math.min(text.length, to + 1), text: '' });
  }
  return edits;
}

function isFlowMap(map: YAMLMap): boolean {
  return Boolean(map.flow);
}

function insertKeyEdits(text: string, map: YAMLMap, values: string[]): Edit[] {
  const firstKey = map.items[0]?.key as Scalar | undefined;
  if (isFlowMap(map)) {
    const json = firstKey?.type === 'QUOTE_DOUBLE';
    const key = json ? `"${KEY}"` : KEY;
    const entry = `${key}: ${renderFlow(values, json ? 'QUOTE_DOUBLE' : undefined, ', ', '')}`;
    if (!firstKey) {
      const open = map.range![0];
      return [{ start: open + 1, end: open + 1, text: entry }];
    }
    // same separator as between "{" and the first key, so pretty-printed JSON stays pretty
    const keyStart = firstKey.range![0];
    const between = text.slice(map.range![0] + 1, keyStart);
    return [{ start: keyStart, end: keyStart, text: `${entry},${between}` }];
  }
  const indent = firstKey ? text.slice(lineStart(text, firstKey.range![0]), firstKey.range![0]) : '';
  const block = `${indent}${KEY}:\n${values.map((v) => `${indent}- ${renderScalar(v, undefined)}`).join('\n')}`;
  // next to clusterDomain, where kubeadm writes it; otherwise after the last key
  const domain = map.items.find((p) => isScalar(p.key) && p.key.value === 'clusterDomain');
  if (domain) {
    const at = lineStart(text, (domain.key as Scalar).range![0]);
    return [{ start: at, end: at, text: `${block}\n` }];
  }
  const end = map.range![1];
  if (end > 0 && text[end - 1] === '\n') return [{ start: end, end, text: `${block}\n` }];
  const at = lineEnd(text, end);
  return [{ start: at, end: at, text: `\n${block}` }];
}

function setEdits(text: string, loc: Located, values: string[], where: string): Edit[] {
  const { map, pair } = loc;
  if (!pair) return insertKeyEdits(text, map, values);
  const v = pair.value;
  if (isSeq(v) && (v.flow || v.items.length === 0)) {
    const s = flowStyle(text, v);
    const style = s.style ?? (isFlowMap(map) && (pair.key as Scalar).type === 'QUOTE_DOUBLE' ? 'QUOTE_DOUBLE' : undefined);
    return [{ start: v.range![0], end: v.range![1], text: renderFlow(values, style, s.sep, s.pad) }];
  }
  if (isSeq(v)) {
    const edits = blockSeqEdits(text, v, values);
    if (edits) return edits;
    throw new KubeletFileError(`${where}: clusterDNS is written in a form nodedns does not edit; set it by hand to [${values.join(', ')}]`);
  }
  if (v === null || v === undefined || (isScalar(v) && v.value === null)) {
    const key = pair.key as Scalar;
    if (isScalar(v) && v.range && v.range[1] > v.range[0]) {
      // "clusterDNS: null" or "clusterDNS: ~"
      return [{ start: v.range[0], end: v.range[1], text: renderFlow(values, undefined, ', ', '') }];
    }
    if (isFlowMap(map)) {
      throw new KubeletFileError(`${where}: clusterDNS has no value; set it by hand to [${values.join(', ')}]`);
    }
    const indent = text.slice(lineStart(text, key.range![0]), key.range![0]);
    const at = lineEnd(text, key.range![1]);
    return [{ start: at, end: at, text: values.map((x) => `\n${indent}- ${renderScalar(x, undefined)}`).join('') }];
  }
  valueList(pair, text, where); // throws the right message
  return [];
}

/** Removes the clusterDNS key (restoring a file that had none before nodedns added it). */
function removeEdits(text: string, loc: Located, where: string): Edit[] {
  const { map, pair } = loc;
  if (!pair) return [];
  const key = pair.key as Scalar;
  const v = pair.value as { range?: [number, number, number] } | null;
  if (isFlowMap(map)) {
    const i = map.items.indexOf(pair);
    const next = map.items[i + 1]?.key as Scalar | undefined;
    if (!next) throw new KubeletFileError(`${where}: remove clusterDNS by hand (it is the last key of a flow map)`);
    return [{ start: key.range![0], end: next.range![0], text: '' }];
  }
  const from = lineStart(text, key.range![0]);
  const valueEnd = v?.range ? v.range[1] : key.range![1];
  let to = lineEnd(text, Math.max(valueEnd - 1, key.range![1]));
  if (text[valueEnd - 1] === '\n') to = valueEnd - 1;
  return [{ start: from, end: Math.min(text.length, to + 1), text: '' }];
}

/** Checks that the edit changed clusterDNS and nothing else, by comparing parsed values. */
function verify(before: string, after: string, values: string[] | undefined, where: string): void {
  const a = locate(before, where);
  let b: Located;
  try {
    b = locate(after, where);
  } catch (e) {
    throw new KubeletFileError(`${where}: nodedns' edit would break the file (${(e as Error).message}); nothing was written. Set clusterDNS by hand`);
  }
  const ja = a.doc.toJS() as Record<string, unknown>;
  const jb = b.doc.toJS() as Record<string, unknown>;
  const got = jb[KEY];
  delete ja[KEY];
  delete jb[KEY];
  const sameRest = isDeepStrictEqual(ja, jb) && a.docs.length === b.docs.length
    && a.docs.every((d, i) => d === a.doc || isDeepStrictEqual(d.toJS(), b.docs[i].toJS()));
  const okValue = values === undefined ? got === undefined : isDeepStrictEqual((got as unknown[] | undefined)?.map(String), values);
  if (!sameRest || !okValue) {
    throw new KubeletFileError(`${where}: nodedns could not edit clusterDNS without touching other settings; nothing was written. Set it by hand`);
  }
}

/** The file with clusterDNS set to `values` (or removed when undefined), everything else unchanged. */
export function spliceClusterDnsYaml(text: string, values: string[] | undefined, where: string): string {
  const loc = locate(text, where);
  const edits = values === undefined ? removeEdits(text, loc, where) : setEdits(text, loc, values, where);
  const out = applyEdits(text, edits);
  if (out !== text) verify(text, out, values, where);
  return out;
}
