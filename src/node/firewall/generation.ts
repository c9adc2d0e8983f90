// Whether the firewall could have changed since the last full sync, without running a tool.
//
// nf_tables keeps one generation number per network namespace and bumps it on every
// committed change to any of its tables. iptables-nft and nft both write through
// nf_tables, so reading that number (one netlink request, NFT_MSG_GETGEN) tells the
// resync whether iptables-save / nft need to run at all. Legacy iptables (x_tables) has
// no such number: while this namespace has legacy tables, every resync reads the rules.
import { Buffer } from 'node:buffer';
import { createNetlink } from 'netlink/dist/netlink'; // not the index: see ../interface.ts
import { legacyTables } from './backend';

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWGEN = 15;
const NFT_MSG_GETGEN = 16;
const NFTA_GEN_ID = 1;
const NFGENMSG_LEN = 4; // family, version, res_id
const NFNETLINK_V0 = 0;
const TIMEOUT_MS = 2000;

/** The generation to compare, or why there is none (a full sync is due every time). */
export type Generation = { id: number } | { unknown: string };

/** NFTA_GEN_ID from the payload of an NFT_MSG_NEWGEN reply (nfgenmsg, then attributes). */
export function parseGeneration(payload: Buffer): number | undefined {
  let at = NFGENMSG_LEN;
  while (at + 4 <= payload.length) {
    const len = payload.readUInt16LE(at);
    const type = payload.readUInt16LE(at + 2) & 0x3fff; // without the nested / byte-order flags
    if (len < 4 || at + len > payload.length) return undefined;
    if (type === NFTA_GEN_ID && len >= 8) return payload.readUInt32BE(at + 4);
    at += (len + 3) & ~3;
  }
  return undefined;
}

/** The nf_tables generation of this network namespace; throws when the kernel does not say. */
export async function readNftGeneration(): Promise<number> {
  const socket = createNetlink(NETLINK_NETFILTER);
  try {
    const request = Buffer.from([0 /* AF_UNSPEC */, NFNETLINK_V0, 0, 0]);
    const [reply] = await socket.request((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, request, { timeout: TIMEOUT_MS });
    const msg = reply.find((m) => m.type === ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN));
    const id = msg ? parseGeneration(msg.data) : undefined;
    if (id === undefined) throw new Error('no NFTA_GEN_ID in the reply to NFT_MSG_GETGEN');
    return id;
  } finally {
    socket.close();
  }
}

/** What a resync compares: the nf_tables generation, unless legacy tables make it meaningless. */
export async function rulesetGeneration(): Promise<Generation> {
  const legacy = [...legacyTables(4).map((t) => `ip ${t}`), ...legacyTables(6).map((t) => `ip6 ${t}`)];
  if (legacy.length > 0) return { unknown: `legacy iptables tables are in use in this network namespace (${legacy.join(', ')}), and they have no generation number` };
  try {
    return { id: await readNftGeneration() };
  } catch (e) {
    return { unknown: `could not read the nf_tables generation over netlink (${(e as Error).message})` };
  }
}
