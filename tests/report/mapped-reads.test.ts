/**
 * The passes that read much of a report at once read it through a memory map, and only while they
 * run: the end of a run (peer evidence, deciding again, the subscriber rollup) and `rescore`. The
 * map's size is SQLite's own `mmap_size`, read back from the connection inside and after each pass.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SubscriberMap } from '../../src/aggregate/subscriber.js';
import { Classifier } from '../../src/classify/classify.js';
import { withMappedReads } from '../../src/report/mapped.js';
import { rescoreReport } from '../../src/report/rescore.js';
import { openReport, ReportWriter } from '../../src/report/writer.js';
import { projectRules } from '../helpers.js';
import { flowRecord, noneVerdict } from '../support/records.js';

const dir = mkdtempSync(join(tmpdir(), 'minerwatch-mapped-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mapped = (db: ReturnType<typeof openReport>): number => db.pragma('mmap_size', { simple: true }) as number;

describe('reads through a memory map', () => {
  it('keep a connection’s own map size: a larger one stays during the pass and comes back after', () => {
    const db = openReport(join(dir, 'c.sqlite'));
    try {
      db.pragma(`mmap_size = ${2 ** 31 - 2 ** 20}`);
      const own = mapped(db);
      expect(own).toBeGreaterThan(2 ** 30);
      expect(withMappedReads(db, () => mapped(db))).toBe(own);
      expect(mapped(db)).toBe(own);
      db.pragma('mmap_size = 4096');
      expect(withMappedReads(db, () => mapped(db))).toBe(2 ** 30);
      expect(mapped(db)).toBe(4096);
    } finally {
      db.close();
    }
  });

  it('are on while the function runs and off after it, also when it throws', () => {
    const db = openReport(join(dir, 'a.sqlite'));
    try {
      expect(mapped(db)).toBe(0);
      expect(withMappedReads(db, () => mapped(db))).toBe(2 ** 30);
      expect(mapped(db)).toBe(0);
      expect(() =>
        withMappedReads(db, () => {
          throw new Error('inside');
        }),
      ).toThrow('inside');
      expect(mapped(db)).toBe(0);
    } finally {
      db.close();
    }
  });

  it('serve the end of a run and rescore, and are off again after each', () => {
    const db = openReport(join(dir, 'b.sqlite'));
    try {
      const writer = new ReportWriter(db, { toolVersion: 'test', rulesetDigest: 'x', rules: '', options: {} });
      const input = writer.addInput('x.pcap');
      writer.addFlow(flowRecord({ client: '10.0.0.1', server: '192.0.2.1', serverPort: 3333 }), noneVerdict(), input, '10.0.0.1');
      let during = -1;
      writer.finish({ packets: 1, anomalies: 0, interrupted: false }, null, (d) => {
        during = mapped(d);
      });
      expect(during).toBe(2 ** 30);
      expect(mapped(db)).toBe(0);
      expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(1);
      // Rescore maps each flow to its subscriber again inside its pass: the map is read there.
      let inRescore = -1;
      const subscribers = {
        resolve: () => {
          inRescore = mapped(db);
          return { subscriber: '10.0.0.1', nat: null };
        },
      } as unknown as SubscriberMap;
      const r = rescoreReport(db, { classifier: new Classifier(projectRules()), subscribers });
      expect(r.flows).toBe(1);
      expect(inRescore).toBe(2 ** 30);
      expect(mapped(db)).toBe(0);
    } finally {
      db.close();
    }
  });
});
