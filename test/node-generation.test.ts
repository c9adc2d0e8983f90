// The nf_tables generation: parsing the kernel's NFT_MSG_NEWGEN reply, and reading it
// over netlink for real (read-only: nothing on the machine changes). That it moves with
// every ruleset change and what the resync does with it: test/e2e/node-idle.test.ts.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { legacyTables } from '../src/node/firewall/backend';
import { parseGeneration, readNftGeneration, rulesetGeneration } from '../src/node/firewall/generation';

// A reply captured from Linux 6.18: nfgenmsg (res_id = low 16 bits of the generation), then
// NFTA_GEN_ID = 5, NFTA_GEN_PROC_PID, NFTA_GEN_PROC_NAME "MainThread".
const REPLY = Buffer.from('000000050800010000000005080002000000358e0f0003004d61696e5468726561640000', 'hex');

describe('nf_tables generation', () => {
  it('takes NFTA_GEN_ID from the reply, big-endian, wherever it sits among the attributes', () => {
    assert.equal(parseGeneration(REPLY), 5);
    const pidFirst = Buffer.concat([REPLY.subarray(0, 4), REPLY.subarray(12, 20), Buffer.from('08000100ffffff00', 'hex')]);
    assert.equal(parseGeneration(pidFirst), 0xffffff00);
  });

  it('finds none in a reply without it or with a broken attribute length (the resync then reads the rules)', () => {
    assert.equal(parseGeneration(REPLY.subarray(0, 4)), undefined);
    assert.equal(parseGeneration(Buffer.concat([REPLY.subarray(0, 4), REPLY.subarray(12)])), undefined);
    const broken = Buffer.from(REPLY);
    broken.writeUInt16LE(200, 4);
    assert.equal(parseGeneration(broken), undefined);
    const zero = Buffer.from(REPLY);
    zero.writeUInt16LE(0, 4);
    assert.equal(parseGeneration(zero), undefined);
  });

  it('reads this namespace\'s generation over netlink (it never goes back)', { skip: process.getuid?.() === 0 ? undefined : 'nfnetlink needs CAP_NET_ADMIN' }, async () => {
    const a = await readNftGeneration();
    const b = await readNftGeneration();
    assert.ok(Number.isInteger(a) && a >= 0);
    assert.ok(b >= a, 'never goes back');
    const g = await rulesetGeneration();
    if (legacyTables(4).length + legacyTables(6).length > 0) assert.match('unknown' in g ? g.unknown : '', /legacy iptables tables/);
    else assert.ok('id' in g && g.id >= b);
  });
});
