/**
 * What a report says, for tests that compare two reports made different ways (killed and rerun,
 * one worker and several): every row without row ids and run numbers, in a stable order.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { clearSettled } from '../../src/report/settle.js';

/** Everything a report says, without row ids and run numbers, in a stable order. */
export function reportSnapshot(path: string): Record<string, unknown> {
  const d = new Database(path, { readonly: true });
  try {
    // Row ids differ between any two reports; evidence that names a flow by id ("proven flow #123") is compared without it.
    const noIds = (r: unknown): string => JSON.stringify(r).replace(/flow #\d+/g, 'flow #id');
    const sorted = (rows: unknown[]): string[] => rows.map(noIds).sort();
    const flowCols = (d.prepare("SELECT name FROM pragma_table_info('flows')").pluck().all() as string[]).filter((c) => !['id', 'run_id', 'input_id'].includes(c));
    return {
      flows: sorted(d.prepare(`SELECT ${flowCols.join(', ')} FROM flows`).all()),
      evidence: sorted(
        d.prepare('SELECT f.client, f.client_port, f.server, f.server_port, f.first_seen, e.rule_id, e.rev, e.kind, e.side, e.family, e.matched, e.excerpt, e.offset, e.time FROM evidence e JOIN flows f ON f.id = e.flow_id').all(),
      ),
      subscribers: d.prepare('SELECT * FROM subscribers ORDER BY subscriber').all().map(noIds),
      hashrate: sorted(d.prepare('SELECT * FROM subscriber_hashrate').all()),
      inputs: d
        .prepare('SELECT path, status, format, size, sha256, packets, wire_bytes, transport_packets, non_ip, ip_other, fragments, malformed, records, export_packets, error FROM inputs ORDER BY path')
        .all(),
      anomalies: sorted(d.prepare('SELECT i.path, a.code, a.count FROM anomalies a LEFT JOIN inputs i ON i.id = a.input_id').all()),
    };
  } finally {
    d.close();
  }
}

/**
 * What a report decided, for two reports made of the same runs in the same order (a scan's close
 * settling its own subscribers, or the whole report): every flow's verdict, every evidence row with
 * its row id, every subscriber and hashrate row. Row ids are kept: the same inserts in the same
 * order give the same ids, so a settle that wrote rows the other did not shows.
 */
export function decidedRows(path: string): { flows: unknown[]; evidence: unknown[]; subscribers: unknown[]; hashrate: unknown[] } {
  const d = new Database(path, { readonly: true });
  try {
    return {
      flows: d.prepare('SELECT id, subscriber, label, confidence, outcome, reason, rules, pool, server_name FROM flows ORDER BY id').all(),
      evidence: d.prepare('SELECT rowid, flow_id, rule_id, rev, kind, side, family, matched, excerpt, offset, time FROM evidence ORDER BY rowid').all(),
      subscribers: d.prepare('SELECT * FROM subscribers ORDER BY subscriber').all(),
      hashrate: d.prepare('SELECT * FROM subscriber_hashrate ORDER BY subscriber, coin, algorithm').all(),
    };
  } finally {
    d.close();
  }
}

/** Remove the report's settled marker (src/report/settle.ts), so that its next scan's close settles the whole report. */
export function forgetSettled(path: string): void {
  const d = new Database(path);
  try {
    clearSettled(d);
  } finally {
    d.close();
  }
}

/** Cut a classic pcap into `n` files of about equal record counts, each with the same header. */
export function splitPcap(src: string, out: string[]): void {
  const b = readFileSync(src);
  const offsets: number[] = [];
  for (let p = 24; p + 16 <= b.length; p += 16 + b.readUInt32LE(p + 8)) offsets.push(p);
  offsets.push(b.length);
  const per = Math.ceil((offsets.length - 1) / out.length);
  out.forEach((f, i) => {
    const fd = openSync(f, 'w');
    writeSync(fd, b, 0, 24);
    const from = offsets[Math.min(i * per, offsets.length - 1)]!;
    const to = offsets[Math.min((i + 1) * per, offsets.length - 1)]!;
    writeSync(fd, b, from, to - from);
    closeSync(fd);
  });
}

