/** `minerwatch flows` and `minerwatch watchlist`: read a report, print rows. */
import { toCsv, toJsonLines, toTable } from '../report/format.js';
import { queryFlows, queryWatchlist } from '../report/queries.js';
import { openReport } from '../report/writer.js';
import type { Confidence } from '../types.js';
import type { Io } from './main.js';

const FLOW_COLUMNS = ['client', 'clientPort', 'server', 'serverPort', 'transport', 'firstSeen', 'lastSeen', 'packets', 'bytes', 'label', 'confidence', 'rules', 'coin', 'agent'];
const FLOW_CSV_EXTRA = ['software', 'workers', 'pool', 'serverName', 'subscriber', 'outcome', 'reason'];
const WATCH_COLUMNS = ['subscriber', 'confidence', 'firstSeen', 'lastSeen', 'miningFlows', 'servers', 'pools', 'coins', 'agents', 'workers', 'evidence'];

export function runFlows(o: { db: string; all?: boolean; minConfidence: Confidence; format: string }, io: Io): void {
  const db = openReport(o.db, { readonly: true });
  try {
    const rows = queryFlows(db, { all: !!o.all, minConfidence: o.all && o.minConfidence === 'low' ? 'none' : o.minConfidence });
    if (o.format === 'jsonl') io.out(toJsonLines(rows));
    else if (o.format === 'csv') io.out(toCsv([...FLOW_COLUMNS, ...FLOW_CSV_EXTRA], rows as never));
    else io.out(toTable(FLOW_COLUMNS, rows as never, 40));
  } finally {
    db.close();
  }
}

export function runWatchlist(o: { db: string; minConfidence: Confidence; format: string }, io: Io): void {
  const db = openReport(o.db, { readonly: true });
  try {
    const rows = queryWatchlist(db, { minConfidence: o.minConfidence });
    if (o.format === 'json') io.out(JSON.stringify(rows, null, 2) + '\n');
    else if (o.format === 'csv') io.out(toCsv(WATCH_COLUMNS, rows as never));
    else io.out(toTable(WATCH_COLUMNS, rows as never, 48));
  } finally {
    db.close();
  }
}
