// Runs the real `dig` (BIND) and `kdig` (Knot) and parses their text output into one shape.
// Text rather than kdig +json: only the text shows the query time, EDE and NSID for both.
import { execFile } from 'node:child_process';
import type { Endpoint } from './ports';

export interface RR {
  name: string;
  ttl: number;
  class: string;
  type: string;
  /** the rdata as the tool prints it, fields joined by one space (TXT keeps its quotes) */
  data: string;
}

export interface DigResult {
  tool: 'dig' | 'kdig';
  /** rcode name (NOERROR, NXDOMAIN…); undefined when no answer was received */
  status?: string;
  id?: number;
  opcode?: string;
  /** header flags, lower case: qr aa tc rd ra ad cd */
  flags: string[];
  question?: { name: string; class: string; type: string };
  answers: RR[];
  authority: RR[];
  additional: RR[];
  /** EDNS: present when the reply had an OPT record */
  edns: boolean;
  ednsVersion?: number;
  ednsUdp?: number;
  /** EDNS flags, lower case (do) */
  ednsFlags: string[];
  ede: { code: number; name: string; text?: string }[];
  nsid?: string; // the NSID as text
  queryTimeMs?: number;
  /** "127.1.2.3#53" (dig) or "127.1.2.3@53" (kdig) as printed */
  server?: string;
  transport?: 'UDP' | 'TCP';
  msgSize?: number;
  /** the tool gave up (timeout, refused connection, unreadable reply) */
  error?: string;
  /** warnings printed along the way (ID mismatch, unexpected source, truncated…) */
  warnings: string[];
  exitCode: number;
  output: string;
}

export interface DigOptions {
  server: Endpoint;
  name: string;
  type?: string; // default A
  class?: string; // default IN
  tcp?: boolean;
  norec?: boolean;
  dnssec?: boolean; // DO bit
  nsid?: boolean;
  bufsize?: number; // EDNS UDP size (0 = no EDNS for dig: +noedns)
  noedns?: boolean;
  /** +ignore: do not retry over TCP on TC=1 */
  ignoreTc?: boolean;
  timeoutSec?: number; // per try, default 2
  tries?: number; // default 1
  source?: string; // -b address
  /** more +options/flags, passed through as they are */
  extra?: string[];
}

function args(tool: 'dig' | 'kdig', o: DigOptions): string[] {
  const a = [`@${o.server.address}`, '-p', String(o.server.port)];
  if (o.source) a.push('-b', o.source);
  a.push(o.name, o.type ?? 'A');
  if (o.class) a.push('-c', o.class);
  const t = o.timeoutSec ?? 2;
  const tries = o.tries ?? 1;
  if (tool === 'dig') a.push(`+time=${t}`, `+tries=${tries}`);
  else a.push(`+timeout=${t}`, `+retry=${tries - 1}`);
  if (o.tcp) a.push('+tcp');
  if (o.norec) a.push('+norec');
  if (o.dnssec) a.push('+dnssec');
  if (o.nsid) a.push('+nsid');
  if (o.noedns) a.push('+noedns');
  if (o.bufsize !== undefined) a.push(`+bufsize=${o.bufsize}`);
  if (o.ignoreTc) a.push('+ignore');
  return a.concat(o.extra ?? []);
}

function runTool(tool: 'dig' | 'kdig', o: DigOptions): Promise<DigResult> {
  const a = args(tool, o);
  const limitMs = ((o.timeoutSec ?? 2) * (o.tries ?? 1) + 5) * 1000;
  return new Promise((resolve, reject) => {
    execFile(tool, a, { timeout: limitMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${tool} ${a.join(' ')} failed to run: ${err.message}`));
        return;
      }
      const text = stdout + (stderr ? '\n' + stderr : '');
      resolve((tool === 'dig' ? parseDig : parseKdig)(text, code));
    });
  });
}

/** Runs BIND's dig (+time/+tries as given, default one try of 2 s) and parses its output. */
export const dig = (o: DigOptions) => runTool('dig', o);
/** Runs Knot's kdig and parses its output. */
export const kdig = (o: DigOptions) => runTool('kdig', o);

const EMPTY = (tool: 'dig' | 'kdig', output: string, exitCode: number): DigResult => ({
  tool, flags: [], answers: [], authority: [], additional: [], edns: false, ednsFlags: [], ede: [],
  warnings: [], exitCode, output,
});

/** "name ttl class type rdata…" as both tools print a record */
export function parseRR(line: string): RR | undefined {
  const f = line.trim().split(/\s+/);
  if (f.length < 4 || !/^\d+$/.test(f[1])) return undefined;
  return { name: f[0], ttl: Number(f[1]), class: f[2], type: f[3], data: f.slice(4).join(' ') };
}

/** TXT rdata as printed ("a b" "c") -> ['a b', 'c'] */
export function txtStrings(data: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(data); m; m = re.exec(data)) out.push(m[1].replace(/\\(.)/g, '$1'));
  return out;
}

type Section = 'question' | 'answer' | 'authority' | 'additional' | 'opt' | undefined;

function sectionOf(line: string): Section | 'skip' | undefined {
  const m = /^;; (QUESTION|ANSWER|AUTHORITY|ADDITIONAL|OPT PSEUDOSECTION|EDNS PSEUDOSECTION)( SECTION)?:/.exec(line);
  if (!m) return undefined;
  return ({ QUESTION: 'question', ANSWER: 'answer', AUTHORITY: 'authority', ADDITIONAL: 'additional',
    'OPT PSEUDOSECTION': 'opt', 'EDNS PSEUDOSECTION': 'opt' } as const)[m[1] as 'QUESTION'];
}

function addRR(r: DigResult, section: Section, line: string) {
  const rr = parseRR(line);
  if (!rr) return;
  if (section === 'answer') r.answers.push(rr);
  else if (section === 'authority') r.authority.push(rr);
  else if (section === 'additional') r.additional.push(rr);
}

function parseEde(r: DigResult, rest: string) {
  // dig: "15 (Blocked): (some text)"   kdig: "15 (Blocked): 'some text'"
  const m = /^(\d+)(?: \(([^)]*)\))?(?::\s*(.*))?$/.exec(rest.trim());
  if (!m) return;
  let text = m[3]?.trim();
  if (text) text = text.replace(/^\((.*)\)$/, '$1').replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  r.ede.push({ code: Number(m[1]), name: m[2] ?? '', text: text || undefined });
}

/** Parses the output of BIND's dig (default format). When dig printed several replies, the last one counts. */
export function parseDig(output: string, exitCode = 0): DigResult {
  const r = EMPTY('dig', output, exitCode);
  let section: Section;
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    let m: RegExpExecArray | null;
    if (line === '') { section = undefined; continue; } // a blank line ends every section
    if ((m = /^;; ->>HEADER<<- opcode: (\S+), status: (\S+), id: (\d+)/.exec(line))) {
      // a new reply: start over, keep warnings
      Object.assign(r, { ...EMPTY('dig', output, exitCode), warnings: r.warnings });
      r.opcode = m[1]; r.status = m[2]; r.id = Number(m[3]);
      section = undefined;
    } else if ((m = /^;; flags:([^;]*);/.exec(line))) {
      r.flags = m[1].trim().split(/\s+/).filter(Boolean);
    } else if (sectionOf(line)) {
      section = sectionOf(line) as Section;
      if (section === 'opt') r.edns = true;
    } else if ((m = /^; EDNS: version: (\d+), flags:([^;]*); udp: (\d+)/.exec(line))) {
      r.edns = true;
      r.ednsVersion = Number(m[1]);
      r.ednsFlags = m[2].trim().split(/\s+/).filter(Boolean);
      r.ednsUdp = Number(m[3]);
    } else if ((m = /^; NSID: .*\("(.*)"\)\s*$/.exec(line))) {
      r.nsid = m[1];
    } else if ((m = /^; EDE: (.*)$/.exec(line))) {
      parseEde(r, m[1]);
    } else if (section === 'question' && (m = /^;(\S+)\s+(\S+)\s+(\S+)$/.exec(line))) {
      r.question = { name: m[1], class: m[2], type: m[3] };
    } else if ((m = /^;; Query time: (\d+) msec/.exec(line))) {
      r.queryTimeMs = Number(m[1]);
    } else if ((m = /^;; SERVER: (\S+)\([^)]*\)(?: \((UDP|TCP)\))?/.exec(line))) {
      r.server = m[1];
      if (m[2]) r.transport = m[2] as 'UDP' | 'TCP';
    } else if ((m = /^;; MSG SIZE\s+rcvd: (\d+)/.exec(line))) {
      r.msgSize = Number(m[1]);
    } else if (/^;; (connection timed out|no servers could be reached|communications error|Got bad packet|ERROR)/.test(line)
      || /^dig: /.test(line)) {
      const msg = line.replace(/^;; /, '');
      r.error = r.error ? `${r.error}; ${msg}` : msg;
    } else if (/^;; (Warning|WARNING|Truncated|reply from unexpected source)/.test(line)) {
      r.warnings.push(line.replace(/^;; /, ''));
    } else if (line && !line.startsWith(';') && section) {
      addRR(r, section, line);
    }
  }
  return r;
}

/** Parses the output of Knot's kdig (default format). When kdig printed several replies, the last one counts. */
export function parseKdig(output: string, exitCode = 0): DigResult {
  const r = EMPTY('kdig', output, exitCode);
  let section: Section;
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    let m: RegExpExecArray | null;
    if (line === '') { section = undefined; continue; } // a blank line ends every section
    if ((m = /^;; ->>HEADER<<- opcode: (\S+); status: (\S+); id: (\d+)/.exec(line))) {
      Object.assign(r, { ...EMPTY('kdig', output, exitCode), warnings: r.warnings });
      r.opcode = m[1]; r.status = m[2]; r.id = Number(m[3]);
      section = undefined;
    } else if ((m = /^;; Flags:([^;]*);/.exec(line))) {
      r.flags = m[1].trim().split(/\s+/).filter(Boolean);
    } else if (sectionOf(line)) {
      section = sectionOf(line) as Section;
      if (section === 'opt') r.edns = true;
    } else if ((m = /^;; Version: (\d+); flags:([^;]*); UDP size: (\d+) B/.exec(line))) {
      r.edns = true;
      r.ednsVersion = Number(m[1]);
      r.ednsFlags = m[2].trim().split(/\s+/).filter(Boolean);
      r.ednsUdp = Number(m[3]);
    } else if ((m = /^;; NSID: \S*(?: "(.*)")?\s*$/.exec(line))) {
      r.nsid = m[1] ?? '';
    } else if ((m = /^;; EDE: (.*)$/.exec(line))) {
      parseEde(r, m[1]);
    } else if ((m = /^;; From (\S+)\((UDP|TCP)\) in ([\d.]+) ms/.exec(line))) {
      r.server = m[1];
      r.transport = m[2] as 'UDP' | 'TCP';
      r.queryTimeMs = Number(m[3]);
    } else if ((m = /^;; Received (\d+) B/.exec(line))) {
      r.msgSize = Number(m[1]);
    } else if (section === 'question' && (m = /^;; (\S+)\s+(\S+)\s+(\S+)$/.exec(line))) {
      r.question = { name: m[1], class: m[2], type: m[3] };
    } else if ((m = /^;; ERROR: (.*)$/.exec(line))) {
      r.error = r.error ? `${r.error}; ${m[1]}` : m[1];
    } else if ((m = /^;; WARNING: (.*)$/.exec(line))) {
      r.warnings.push(m[1]);
    } else if (line && !line.startsWith(';') && section) {
      addRR(r, section, line);
    }
  }
  return r;
}
