/**
 * A settle that raises a flow holding proof evidence to a medium or high mining verdict is not the
 * last word (the next peer pass can prove pairs with it), so the report is then not marked settled
 * (src/report/settle.ts). The shipped policy already gives every such flow a medium mining verdict
 * on its own evidence; a policy that weighs a protocol message lower, with a session to lift it,
 * shows the case: the demo capture's mining flow, copied into a chain of ten-minute flows of one
 * subscriber (as a miner reconnecting for hours), is decided again with such a policy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/classify.js';
import { main } from '../../src/cli/main.js';
import { redecideReport } from '../../src/report/redecide.js';
import { markSettled, settleContext } from '../../src/report/settle.js';
import { openReport } from '../../src/report/writer.js';
import type { RuleSet } from '../../src/rules/schema.js';
import { FIXTURES, projectRules } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-settle-proofs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SPAN = 600_000;
const COPIES = 12;

/** The project's rules with a policy where a protocol message alone is a low suspect and a sustained session makes a medium miner. */
function lowProtocolRules(): RuleSet {
  const r = projectRules();
  return {
    ...r,
    policy: {
      ...r.policy,
      outcomes: [
        { name: 'sustained session', all: ['session'], any: [], label: 'mining', confidence: 'medium' },
        { name: 'protocol alone', all: ['protocol'], any: [], label: 'suspect', confidence: 'low' },
      ],
    },
  };
}

/** Copies of the first mining flow, chained, for subscriber `sub`, decided as the low-protocol policy decides one alone. */
function chain(d: Database.Database, sub: string): void {
  const cols = (d.prepare('PRAGMA table_info(flows)').all() as Array<{ name: string }>).map((c) => c.name).filter((c) => c !== 'id');
  const src = (d.prepare("SELECT id FROM flows WHERE label = 'mining' ORDER BY id LIMIT 1").get() as { id: number }).id;
  const copy = d.prepare(
    `INSERT INTO flows(${cols.join(', ')}) SELECT ${cols
      .map((c) =>
        c === 'subscriber'
          ? '@sub'
          : c === 'first_seen'
            ? `first_seen + @i * ${SPAN}`
            : c === 'last_seen'
              ? `first_seen + @i * ${SPAN} + ${SPAN - 1000}`
              : c === 'label'
                ? "'suspect'"
                : c === 'confidence'
                  ? "'low'"
                  : c === 'outcome'
                    ? "'protocol alone'"
                    : c,
      )
      .join(', ')} FROM flows WHERE id = @src`,
  );
  const evidence = d.prepare("INSERT INTO evidence SELECT ?, rule_id, rev, kind, side, family, matched, excerpt, offset, time FROM evidence WHERE flow_id = ? AND kind NOT IN ('session', 'pool-endpoints', 'peer')");
  d.transaction(() => {
    for (let i = 0; i < COPIES; i++) evidence.run(copy.run({ sub, i, src }).lastInsertRowid, src);
  })();
}

describe('a settle that makes new proofs', () => {
  const db = join(tmp, 'report.sqlite');
  beforeAll(async () => {
    let err = '';
    expect(await main(['scan', join(FIXTURES, 'demo'), '--db', db], { out: () => {}, err: (s) => (err += s) }), err).toBe(0);
  }, 120_000);

  it('counts the flows it raised to proofs, and the report is then not marked settled', () => {
    const d = openReport(db);
    try {
      chain(d, 'chained-miner');
      const context = settleContext('test', 'rules', []);
      const run = d.prepare('SELECT max(id) FROM runs').pluck().get() as number;
      // Settled under the context before: a close may settle its own subscribers.
      markSettled(d, run, context, 0);
      expect(d.prepare("SELECT value FROM meta WHERE key = 'settled'").pluck().get()).toBeDefined();
      const proofKinds = d.prepare("SELECT count(*) FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE f.subscriber = 'chained-miner' AND e.kind = 'payload'").pluck().get() as number;
      expect(proofKinds).toBeGreaterThan(0);
      const r = redecideReport(d, new Classifier(lowProtocolRules()), { recompute: false, subscribers: ['chained-miner'] });
      expect(r.sessions).toBe(COPIES);
      // Every copy holds payload evidence and went from a low suspect to a medium miner.
      expect(r.changed).toBe(COPIES);
      expect(r.newProofs).toBe(COPIES);
      expect(d.prepare("SELECT DISTINCT label || '/' || confidence FROM flows WHERE subscriber = 'chained-miner'").pluck().all()).toEqual(['mining/medium']);
      // A second pass raises nothing more.
      expect(redecideReport(d, new Classifier(lowProtocolRules()), { recompute: false, subscribers: ['chained-miner'] }).newProofs).toBe(0);
      markSettled(d, run, context, r.newProofs);
      expect(d.prepare("SELECT value FROM meta WHERE key = 'settled'").pluck().get()).toBeUndefined();
    } finally {
      d.close();
    }
  });
});
