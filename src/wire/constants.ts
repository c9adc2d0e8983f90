// DNS wire constants used on raw buffers.

export const HEADER_LEN = 12;

export const RCODE = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16,
} as const;

export const TYPE = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41,
  IXFR: 251, AXFR: 252, ANY: 255,
} as const;

export const CLASS = { IN: 1, CH: 3, ANY: 255 } as const;

// Byte 2 of the header
export const QR = 0x80;
export const OPCODE_MASK = 0x78;
export const AA = 0x04;
export const TC = 0x02;
export const RD = 0x01;
// Byte 3 of the header
export const RA = 0x80;
export const AD = 0x20;
export const CD = 0x10;
export const RCODE_MASK = 0x0f;

// EDNS
export const EDNS_DO = 0x8000;
export const EDNS_UPSTREAM_SIZE = 1232; // DNS Flag Day 2020: no IP fragmentation
export const OPT_NSID = 3;
export const OPT_EDE = 15;
export const EDE_STALE_ANSWER = 3;
