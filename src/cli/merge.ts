/**
 * `minerwatch merge`: reports into one, in one transaction. Every input is checked before the
 * output is opened; a merge that fails leaves an output that existed as it was, and removes one
 * that it created.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError, RuleError, UsageError } from '../errors.js';
import { checkMergeSource, mergeReport } from '../report/merge.js';
import { policyRedecide } from '../report/policy-redecide.js';
import { subscriberCount } from '../report/queries.js';
import { redecideReport } from '../report/redecide.js';
import { Classifier } from '../classify/classify.js';
import { openReport } from '../report/writer.js';
import { describeDeadRun, reapDeadRuns } from '../report/runs.js';
import type { Io } from './main.js';
import { loadRulesForScan } from './rules.js';
import { startProgress } from './progress.js';

export async function runMerge(reports: string[], o: { db: string; rules: string; quiet?: boolean }, io: Io): Promise<number> {
  if (reports.some((r) => resolve(r) === resolve(o.db))) throw new UsageError(`--db ${o.db} is also an input: merge into a new or different report`);
  const ruleSet = loadRulesForScan(o.rules, false, io).ruleSet;
  // Sessions and many-endpoint evidence add up over the merged flows (src/report/redecide.ts).
  const classifier = new Classifier(ruleSet);
  const redecide = policyRedecide(ruleSet.policy);
  for (const r of reports) checkMergeSource(r);
  const created = !existsSync(o.db);
  const removeCreated = (): void => {
    if (!created) return;
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(o.db + suffix, { force: true });
  };
  let db: ReturnType<typeof openReport>;
  try {
    db = openReport(o.db);
  } catch (e) {
    removeCreated();
    throw e;
  }
  const lines: string[] = [];
  let current = '';
  // The merge is one synchronous transaction: the line is drawn as each report begins, from the
  // first (no timer runs meanwhile), by the bytes of the reports merged so far.
  const sizes = reports.map((r) => statSync(r).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  let merged = 0;
  let bytes = 0;
  let flows = 0;
  const line = await startProgress(io, {
    label: 'merge',
    quiet: o.quiet,
    delayMs: 0,
    sample: () => ({ done: bytes, total, unit: 'bytes', stage: `report ${Math.min(merged + 1, reports.length)} of ${reports.length} (${current})`, found: [`${flows} flows`] }),
  });
  io = line.io;
  try {
    db.transaction(() => {
      for (const d of reapDeadRuns(db)) lines.push(`${describeDeadRun(o.db, d)}\n`);
      for (const r of reports) {
        current = r;
        line.draw();
        const c = mergeReport(db, r, redecide, (d) => {
          redecideReport(d, classifier, { recompute: false });
        });
        bytes += sizes[merged]!;
        merged++;
        flows += c.flows;
        lines.push(
          `${r}: ${c.runs} run(s), ${c.inputs} input(s) (${c.skippedInputs} already present${c.replacedInputs ? `, ${c.replacedInputs} replacing rows held only in part` : ''}), ${c.flows} flows, ${c.evidence} evidence rows${c.unfinishedRuns ? `; ${c.unfinishedRuns} run(s) that never finished: their scan rows were not copied` : ''}\n`,
        );
      }
    }).immediate();
  } catch (e) {
    line.stop();
    db.close();
    removeCreated();
    const state = created ? `${o.db} was not created` : `${o.db} is unchanged`;
    if (e instanceof UsageError) throw new UsageError(`${e.message}; ${state}`);
    if (e instanceof InputError || e instanceof RuleError) throw e;
    // A source that passed the check but cannot be read through, or a target that cannot be written (disk full).
    throw new UsageError(`cannot merge ${current} into ${o.db}: ${(e as Error).message}; ${state}`);
  }
  line.stop();
  try {
    for (const l of lines) io.out(l);
    const n = subscriberCount(db);
    io.out(`${o.db}: ${n} subscriber(s) with mining evidence\n`);
  } finally {
    db.close();
  }
  return 0;
}
