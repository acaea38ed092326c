/**
 * The ledger's question (src/report/ledger.ts `mayChange`): may the close's pass, reading a
 * subscriber's flows with evidence, change anything for it? Flows written by hand, weighed with the
 * project's rules/policy.yaml: its session traits (medium at 9) and outcomes.
 */
import { describe, expect, it } from 'vitest';
import { mayChange, type LedgerFact, type LedgerFlow } from '../../src/report/ledger.js';
import { projectRules } from '../helpers.js';

const policy = projectRules().policy;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 2, 8);

/** A flow of `minutes` to 192.0.2.1:`port`, 10 packets a minute each way of 100 bytes, as the scan decided it. */
function flow(minutes: number, at: number, facts: LedgerFact[], verdict: [string, string, string | null], port = 3333): LedgerFlow {
  const packets = 10 * minutes;
  return {
    server: '192.0.2.1',
    server_port: port,
    transport: 'tcp',
    first_seen: at,
    last_seen: at + minutes * 60_000,
    packets_c2s: packets,
    packets_s2c: packets,
    bytes_c2s: packets * 100,
    bytes_s2c: packets * 100,
    flags_c2s: 0x18,
    flags_s2c: 0x18,
    records: 1,
    label: verdict[0],
    confidence: verdict[1],
    outcome: verdict[2],
    facts,
  };
}

const WEAK: LedgerFact[] = [{ kind: 'behaviour-weak', side: 'client' }];
const WEAK_VERDICT: [string, string, string] = ['suspect', 'low', 'weak pool-like behaviour'];
/** An exact listing observed the day before (full weight), as src/classify/matchers/address.ts writes it. */
const LISTED: LedgerFact[] = [{ kind: 'endpoint-port', side: 'server', matched: '192.0.2.1:3333 listed (ip:port; test pool, pools.yaml:3; observed 2026-11-01, 1 day before the flow, weight 1)' }];
const LISTED_VERDICT: [string, string, string] = ['suspect', 'low', 'listed pool address'];

describe('mayChange', () => {
  it('no: one short flow decided as its evidence says, that no session trait lifts to medium', () => {
    // Connected 2 minutes (no connected trait), port 443: low rate, small packets, both ways = 3 points.
    expect(mayChange(policy, [flow(2, T0, WEAK, WEAK_VERDICT, 443)])).toBe(false);
    // An exact listing, one short flow: 3 (listing) + 1 (address) + 1 (port) + 3 = 8, below 9.
    expect(mayChange(policy, [flow(2, T0, LISTED, LISTED_VERDICT)])).toBe(false);
  });

  it('yes: a flow whose verdict is not what its evidence gives now', () => {
    expect(mayChange(policy, [flow(2, T0, WEAK, ['mining', 'medium', 'weak pool-like behaviour'], 443)])).toBe(true);
    expect(mayChange(policy, [flow(2, T0, WEAK, ['suspect', 'low', 'listed pool address'], 443)])).toBe(true);
  });

  it('yes: a flow that proves its server (peer evidence may have lifted the others)', () => {
    expect(mayChange(policy, [flow(2, T0, [{ kind: 'payload', side: 'client' }], ['mining', 'medium', 'one-sided protocol'])])).toBe(true);
  });

  it('yes: a listing whose date its text does not give (the pass weighs it by the lists)', () => {
    const undated: LedgerFact[] = [{ kind: 'endpoint-port', side: 'server', matched: '192.0.2.1:3333 listed (ip:port; test pool)' }];
    expect(mayChange(policy, [flow(2, T0, undated, LISTED_VERDICT)])).toBe(true);
  });

  it('yes: flows that add up to a session at medium, or a flow holding evidence added up before', () => {
    // Three of the short listed flows of the first case, over two days: connected 6 min (+2), two
    // days (+1), a steady rate (+1), low rate, small packets, both ways, pool port (+4), listing (+4).
    const flows = [flow(2, T0, LISTED, LISTED_VERDICT), flow(2, T0 + 3_600_000, LISTED, LISTED_VERDICT), flow(2, T0 + DAY, LISTED, LISTED_VERDICT)];
    expect(mayChange(policy, flows)).toBe(true);
    expect(mayChange(policy, [flow(2, T0, [...WEAK, { kind: 'session', side: 'client' }], WEAK_VERDICT, 443)])).toBe(true);
  });
});
