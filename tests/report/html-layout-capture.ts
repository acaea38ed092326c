/**
 * A large report's inputs, as real bytes: a capture of 1,000 subscribers mining Stratum V1 with pools
 * whose names are long, over more than 1,400 days; a subscriber directory with long ids; and a rule
 * folder (the project's rules plus one endpoint file listing the pools' addresses under those names).
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RULES_DIR } from '../helpers.js';
import { LinkType, pcapFile, tcpSession, type SessionMessage, type TimedPacket } from '../support/builders.js';

export const SUBSCRIBERS = 1000;
/** First and last session start: 1,412 calendar days apart (2022-01-03 … 2025-11-15). */
export const FIRST = Date.UTC(2022, 0, 3, 9, 0, 0);
export const LAST = Date.UTC(2025, 10, 15, 21, 0, 0);

/** Pool names longer than any column would want, without spaces (so a break could only be mid-word). */
export const POOLS = [
  'AntPoolInternationalMiningCooperative',
  'SuperLongRegionalHashrateExchangeEuropeCentral',
  'F2PoolAsiaPacificBackupStratumGateway',
  'ViaBTCMergedMiningProxyClusterNumberSeven',
];
const POOL_IPS = ['198.51.100.71', '198.51.100.72', '198.51.100.73', '198.51.100.74'];

/** The directory id of subscriber i: long, and breakable only at its hyphens. */
export function subscriberId(i: number): string {
  return `ZJ-HANGZHOU-XIHU-RESIDENTIAL-BROADBAND-${String(i).padStart(5, '0')}`;
}

const clientOf = (i: number): string => `100.64.${Math.floor(i / 250)}.${(i % 250) + 1}`;

const line = (...messages: unknown[]): string => messages.map((m) => `${JSON.stringify(m)}\n`).join('');

function stratum(worker: string): SessionMessage[] {
  const notify = { id: null, method: 'mining.notify', params: ['4e21', '4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000', '01000000010000', '072f736c7573682f', [], '20000000', '1c2ac4af', '6553f1a0', true] };
  return [
    { from: 'client', gapMs: 2, data: line({ id: 1, method: 'mining.subscribe', params: ['cgminer/4.10.0'] }) },
    { from: 'server', gapMs: 40, data: line({ id: 1, result: [[['mining.notify', 'ae6812eb4cd7735a302a8a9dd95cf71f']], '08000002', 4], error: null }) },
    { from: 'client', gapMs: 3, data: line({ id: 2, method: 'mining.authorize', params: [worker, 'x'] }) },
    { from: 'server', gapMs: 40, data: line({ id: 2, result: true, error: null }, notify) },
  ];
}

/** Write capture, directory and rule folder under `dir`; returns their paths (the capture is a folder of pcap files). */
export function writeLayoutInputs(dir: string): { capture: string; directory: string; rules: string } {
  const span = LAST - FIRST;
  const sessions: Array<{ start: number; i: number; n: number }> = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    // Two sessions each, spread over the whole period; the first and the last subscriber mark its ends.
    const a = i === 0 ? FIRST : FIRST + Math.floor((span * ((i * 7919) % SUBSCRIBERS)) / SUBSCRIBERS);
    const b = i === SUBSCRIBERS - 1 ? LAST : FIRST + Math.floor((span * ((i * 104729 + 17) % SUBSCRIBERS)) / SUBSCRIBERS);
    sessions.push({ start: a, i, n: 0 }, { start: b, i, n: 1 });
  }
  // Ten capture files of 200 sessions each, in time order (one file's packets are concatenated in memory).
  sessions.sort((x, y) => x.start - y.start);
  const capture = join(dir, 'captures');
  mkdirSync(capture, { recursive: true });
  for (let f = 0; f * 200 < sessions.length; f++) {
    const packets: TimedPacket[] = [];
    for (const s of sessions.slice(f * 200, (f + 1) * 200)) {
      packets.push(
        ...tcpSession({
          client: [clientOf(s.i), 40000 + s.n],
          server: [POOL_IPS[s.i % POOL_IPS.length]!, 3333],
          start: s.start,
          rttMs: 40,
          messages: stratum(`4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge.rig-${s.i}`),
        }),
      );
    }
    packets.sort((x, y) => x.ts - y.ts);
    writeFileSync(join(capture, `layout-${String(f).padStart(2, '0')}.pcap`), pcapFile(LinkType.RAW, packets.map((p) => ({ ts: p.ts, data: p.ip }))));
  }

  const directory = join(dir, 'subscribers.csv');
  let csv = 'prefix,subscriber,account,type,region\n';
  for (let i = 0; i < SUBSCRIBERS; i++) csv += `${clientOf(i)},${subscriberId(i)},ACC-${i},residential,Hangzhou-Xihu-District\n`;
  writeFileSync(directory, csv);

  const rules = join(dir, 'rules');
  cpSync(RULES_DIR, rules, { recursive: true });
  const entries = POOL_IPS.map((ip, k) => `  - ip: "${ip}"\n    pool: "${POOLS[k]}"\n    coins: ["BTC"]\n`).join('');
  writeFileSync(join(rules, 'endpoints', 'layout-test-pools.yaml'), `source: "test: addresses of the layout test's pools"\nadded: 2021-12-01\nkind: pool\nentries:\n${entries}`);
  return { capture, directory, rules };
}
