/** `minerwatch merge`: reports into one. */
import { resolve } from 'node:path';
import { classesOf, decide } from '../classify/policy.js';
import { UsageError } from '../errors.js';
import { mergeReport } from '../report/merge.js';
import { redecideReport } from '../report/redecide.js';
import { Classifier } from '../classify/classify.js';
import { openReport } from '../report/writer.js';
import type { Io } from './main.js';
import { loadRulesForScan } from './rules.js';

export async function runMerge(reports: string[], o: { db: string; rules: string }, io: Io): Promise<number> {
  if (reports.some((r) => resolve(r) === resolve(o.db))) throw new UsageError(`--db ${o.db} is also an input: merge into a new or different report`);
  const ruleSet = loadRulesForScan(o.rules, false, io).ruleSet;
  const policy = ruleSet.policy;
  // Sessions and many-endpoint evidence add up over the merged flows (src/report/redecide.ts).
  const classifier = new Classifier(ruleSet);
  const redecide = (ev: Parameters<typeof classesOf>[0]) => {
    const d = decide(policy, classesOf(ev));
    return { label: d.label, confidence: d.confidence, outcome: d.outcome?.name ?? null };
  };
  const db = openReport(o.db);
  try {
    for (const r of reports) {
      const c = mergeReport(db, r, redecide, (d) => {
        redecideReport(d, classifier, { recompute: false });
      });
      io.out(`${r}: ${c.runs} run(s), ${c.inputs} input(s) (${c.skippedInputs} already present), ${c.flows} flows, ${c.evidence} evidence rows\n`);
    }
    const n = (db.prepare('SELECT count(*) AS n FROM subscribers').get() as { n: number }).n;
    io.out(`${o.db}: ${n} subscriber(s) with mining evidence\n`);
  } finally {
    db.close();
  }
  return 0;
}
