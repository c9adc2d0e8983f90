// Messages nodedns writes itself: error replies, the OPT record, upstream queries.
import { Buffer } from 'node:buffer';
import {
  AD, CD, EDE_STALE_ANSWER, EDNS_DO, EDNS_UPSTREAM_SIZE, HEADER_LEN, OPCODE_MASK, OPT_EDE, OPT_NSID, QR, RA, RCODE, RD, TC, TYPE,
} from './constants';
import type { Query } from './query';

/** What goes into the OPT record of a reply to a client that sent EDNS. */
export interface OptExtras {
  nsid?: Buffer; // RFC 5001, only when the client asked
  ede?: number; // RFC 8914 info-code
  extRcode?: number; // upper 8 bits of a 12-bit rcode
}

export const OUR_UDP_SIZE = EDNS_UPSTREAM_SIZE;

export function optLength(x: OptExtras): number {
  return 11 + (x.nsid ? 4 + x.nsid.length : 0) + (x.ede !== undefined ? 6 : 0);
}

/** Writes an OPT record at `off`; returns the offset after it. */
export function writeOpt(out: Buffer, off: number, dnssecOk: boolean, x: OptExtras): number {
  out[off] = 0;
  out.writeUInt16BE(TYPE.OPT, off + 1);
  out.writeUInt16BE(OUR_UDP_SIZE, off + 3);
  out[off + 5] = x.extRcode ?? 0;
  out[off + 6] = 0; // version
  out.writeUInt16BE(dnssecOk ? EDNS_DO : 0, off + 7);
  const rdlenAt = off + 9;
  let o = off + 11;
  if (x.nsid) {
    out.writeUInt16BE(OPT_NSID, o);
    out.writeUInt16BE(x.nsid.length, o + 2);
    x.nsid.copy(out, o + 4);
    o += 4 + x.nsid.length;
  }
  if (x.ede !== undefined) {
    out.writeUInt16BE(OPT_EDE, o);
    out.writeUInt16BE(2, o + 2);
    out.writeUInt16BE(x.ede, o + 4);
    o += 6;
  }
  out.writeUInt16BE(o - off - 11, rdlenAt);
  return o;
}

/** A reply with no records: FORMERR, NOTIMP, SERVFAIL, REFUSED, BADVERS, or a truncated answer. */
export function emptyReply(query: Buffer, q: Query, rcode: number, opts: { truncated?: boolean; aa?: boolean } & OptExtras = {}): Buffer {
  const withQuestion = q.questionEnd > 0;
  const qEnd = withQuestion ? q.questionEnd : HEADER_LEN;
  const x: OptExtras = { ...opts, extRcode: rcode >> 4 };
  const out = Buffer.alloc(qEnd + (q.edns ? optLength(x) : 0));
  query.copy(out, 0, 0, qEnd);
  out[2] = QR | (query[2] & (OPCODE_MASK | RD)) | (opts.truncated ? TC : 0) | (opts.aa ? 0x04 : 0);
  out[3] = raFor(rcode) | (query[3] & CD) | (rcode & 0x0f); // CD copied: RFC 4035 §3.2.2
  out.writeUInt16BE(withQuestion ? 1 : 0, 4);
  out.writeUInt32BE(0, 6); // ANCOUNT, NSCOUNT
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  if (q.edns) writeOpt(out, qEnd, q.dnssecOk, x);
  return out;
}

/**
 * RA in a reply nodedns writes itself. Recursion is available (RFC 1035 §4.1.1), but a query
 * rejected before resolution (FORMERR, NOTIMP) was never offered it: there Unbound clears RA,
 * and so do we; BADVERS, REFUSED, SERVFAIL and truncated answers carry it, as Unbound's do.
 */
function raFor(rcode: number): number {
  return rcode === RCODE.FORMERR || rcode === RCODE.NOTIMP ? 0 : RA;
}

const NO_EXTRAS: OptExtras = {};

/**
 * Our own query upstream: fresh ID, RD, the client's CD and DO, 1232-byte EDNS, and AD set so
 * that a validating upstream says whether the answer is authentic even without DO (RFC 6840
 * §5.7); render() passes AD on only to clients that asked with AD or DO.
 */
export function upstreamQuery(id: number, question: Buffer, cd: boolean, dnssecOk: boolean): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LEN + question.length + 11);
  out.writeUInt16BE(id, 0);
  out[2] = RD;
  out[3] = AD | (cd ? CD : 0);
  out.writeUInt16BE(1, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(1, 10);
  question.copy(out, HEADER_LEN);
  writeOpt(out, HEADER_LEN + question.length, dnssecOk, NO_EXTRAS);
  return out;
}

export const EDE_STALE = EDE_STALE_ANSWER;
