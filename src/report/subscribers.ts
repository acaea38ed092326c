/**
 * Per-subscriber rollup, rebuilt from every mining flow in the report (so it stays exact when
 * inputs are added across runs). A subscriber is the flow's `subscriber` column: the client
 * address, or the address inside `--subscriber-net` when nets were given.
 */
import type Database from 'better-sqlite3';

const RANK: Record<string, number> = { none: 0, low: 1, medium: 2, high: 3 };
const LEVEL = ['none', 'low', 'medium', 'high'];
const MAX_LIST = 50;

interface Row {
  subscriber: string;
  first_seen: number;
  last_seen: number;
  server: string;
  server_port: number;
  coin: string | null;
  agent: string | null;
  software: string | null;
  pool: string | null;
  workers: string;
  confidence: string;
  rules: string;
  reason: string;
}

export function rebuildSubscribers(db: Database.Database): void {
  const rows = db
    .prepare(
      `SELECT subscriber, first_seen, last_seen, server, server_port, coin, agent, software, pool, workers, confidence, rules, reason
       FROM flows WHERE label = 'mining' AND subscriber IS NOT NULL ORDER BY subscriber, first_seen`,
    )
    .iterate() as IterableIterator<Row>;
  interface Acc {
    first: number;
    last: number;
    flows: number;
    servers: Set<string>;
    pools: Set<string>;
    coins: Set<string>;
    agents: Set<string>;
    workers: Set<string>;
    rules: Set<string>;
    rank: number;
    byConf: Map<string, number>;
  }
  const acc = new Map<string, Acc>();
  for (const r of rows) {
    let a = acc.get(r.subscriber);
    if (!a) {
      a = { first: r.first_seen, last: r.last_seen, flows: 0, servers: new Set(), pools: new Set(), coins: new Set(), agents: new Set(), workers: new Set(), rules: new Set(), rank: 0, byConf: new Map() };
      acc.set(r.subscriber, a);
    }
    a.first = Math.min(a.first, r.first_seen);
    a.last = Math.max(a.last, r.last_seen);
    a.flows++;
    add(a.servers, `${r.server.includes(':') ? `[${r.server}]` : r.server}:${r.server_port}`);
    if (r.coin) add(a.coins, r.coin);
    if (r.pool) add(a.pools, r.pool);
    // Named software when the agent is known, the agent string verbatim otherwise.
    if (r.software ?? r.agent) add(a.agents, (r.software ?? r.agent)!);
    for (const w of JSON.parse(r.workers) as string[]) add(a.workers, w);
    for (const id of r.rules.split(',')) if (id) a.rules.add(id);
    a.rank = Math.max(a.rank, RANK[r.confidence] ?? 0);
    a.byConf.set(r.confidence, (a.byConf.get(r.confidence) ?? 0) + 1);
  }
  const ins = db.prepare(
    'INSERT INTO subscribers(subscriber, first_seen, last_seen, mining_flows, account, type, region, servers, pools, coins, agents, workers, confidence, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const info = db.prepare('SELECT account, type, region FROM subscriber_info WHERE subscriber = ?');
  db.transaction(() => {
    db.exec('DELETE FROM subscribers');
    for (const [sub, a] of acc) {
      const conf = [...a.byConf.entries()].sort((x, y) => (RANK[y[0]] ?? 0) - (RANK[x[0]] ?? 0)).map(([c, n]) => `${n} ${c}`).join(', ');
      const evidence = `${a.flows} mining flow${a.flows === 1 ? '' : 's'} (${conf}) to ${a.servers.size} server${a.servers.size === 1 ? '' : 's'}; rules ${[...a.rules].sort().join(', ')}`;
      const i = info.get(sub) as { account: string | null; type: string | null; region: string | null } | undefined;
      ins.run(sub, a.first, a.last, a.flows, i?.account ?? null, i?.type ?? null, i?.region ?? null, JSON.stringify([...a.servers]), JSON.stringify([...a.pools].sort()), JSON.stringify([...a.coins].sort()), JSON.stringify([...a.agents]), JSON.stringify([...a.workers]), LEVEL[a.rank], evidence);
    }
  })();
}

function add(s: Set<string>, v: string): void {
  if (s.size < MAX_LIST) s.add(v);
}
