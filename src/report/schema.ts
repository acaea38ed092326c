/**
 * The report's SQLite schema, versioned. Times are integer milliseconds since the Unix epoch, UTC.
 * docs in README.md ("SQLite schema") are kept in step with this file; a test checks they agree.
 */
export const SCHEMA_VERSION = 6;

/** `minerwatch probe` results: one row per probe (one protocol's request to one server). */
const PROBES_SQL = `
CREATE TABLE IF NOT EXISTS probes (
  id          INTEGER PRIMARY KEY,
  time        INTEGER NOT NULL,
  server      TEXT NOT NULL,
  server_port INTEGER NOT NULL,
  protocol    TEXT NOT NULL,
  status      TEXT NOT NULL,
  matched     TEXT,
  rule_id     TEXT,
  rev         INTEGER,
  excerpt     TEXT,
  error       TEXT
);
CREATE INDEX IF NOT EXISTS probes_server ON probes(server, server_port);
`;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  id             INTEGER PRIMARY KEY,
  started        INTEGER NOT NULL,
  finished       INTEGER,
  status         TEXT NOT NULL DEFAULT 'running',
  tool_version   TEXT NOT NULL,
  ruleset_digest TEXT NOT NULL,
  rules          TEXT NOT NULL,
  options        TEXT NOT NULL,
  packets        INTEGER NOT NULL DEFAULT 0,
  flows          INTEGER NOT NULL DEFAULT 0,
  anomalies      INTEGER NOT NULL DEFAULT 0,
  command        TEXT NOT NULL DEFAULT 'scan',
  pid            INTEGER,
  host           TEXT,
  proc_start     TEXT,
  boot_id        TEXT,
  pid_ns         TEXT,
  heartbeat      INTEGER
);
CREATE TABLE IF NOT EXISTS inputs (
  id                INTEGER PRIMARY KEY,
  run_id            INTEGER NOT NULL REFERENCES runs(id),
  path              TEXT NOT NULL,
  format            TEXT,
  compression       TEXT,
  size              INTEGER,
  sha256            TEXT,
  packets           INTEGER NOT NULL DEFAULT 0,
  wire_bytes        INTEGER NOT NULL DEFAULT 0,
  transport_packets INTEGER NOT NULL DEFAULT 0,
  non_ip            INTEGER NOT NULL DEFAULT 0,
  ip_other          INTEGER NOT NULL DEFAULT 0,
  fragments         INTEGER NOT NULL DEFAULT 0,
  malformed         INTEGER NOT NULL DEFAULT 0,
  records           INTEGER NOT NULL DEFAULT 0,
  export_packets    INTEGER NOT NULL DEFAULT 0,
  error             TEXT,
  status            TEXT NOT NULL DEFAULT 'reading',
  note              TEXT
);
CREATE TABLE IF NOT EXISTS anomalies (
  run_id   INTEGER NOT NULL REFERENCES runs(id),
  input_id INTEGER REFERENCES inputs(id),
  code     TEXT NOT NULL,
  count    INTEGER NOT NULL,
  PRIMARY KEY (run_id, input_id, code)
);
CREATE TABLE IF NOT EXISTS anomaly_samples (
  run_id   INTEGER NOT NULL REFERENCES runs(id),
  input_id INTEGER REFERENCES inputs(id),
  code     TEXT NOT NULL,
  offset   INTEGER NOT NULL,
  message  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flows (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runs(id),
  input_id    INTEGER REFERENCES inputs(id),
  client      TEXT NOT NULL,
  client_port INTEGER NOT NULL,
  server      TEXT NOT NULL,
  server_port INTEGER NOT NULL,
  transport   TEXT NOT NULL,
  ip_version  INTEGER NOT NULL,
  orientation TEXT NOT NULL,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  packets_c2s INTEGER NOT NULL,
  packets_s2c INTEGER NOT NULL,
  bytes_c2s   INTEGER NOT NULL,
  bytes_s2c   INTEGER NOT NULL,
  flags_c2s   INTEGER NOT NULL,
  flags_s2c   INTEGER NOT NULL,
  end_reason  TEXT NOT NULL,
  source      TEXT NOT NULL DEFAULT 'packets',
  records     INTEGER NOT NULL DEFAULT 0,
  sampling    INTEGER NOT NULL DEFAULT 1,
  label       TEXT NOT NULL,
  confidence  TEXT NOT NULL,
  coin        TEXT,
  agent       TEXT,
  software    TEXT,
  workers     TEXT NOT NULL DEFAULT '[]',
  pool        TEXT,
  server_name TEXT,
  rules       TEXT NOT NULL DEFAULT '',
  outcome     TEXT,
  reason      TEXT NOT NULL,
  subscriber  TEXT,
  nat         TEXT,
  shares_submitted INTEGER,
  shares_accepted  INTEGER,
  shares_rejected  INTEGER,
  shares      INTEGER,
  share_hashes REAL,
  algorithm   TEXT,
  reported_hs REAL
);
CREATE INDEX IF NOT EXISTS flows_label ON flows(label, confidence);
CREATE INDEX IF NOT EXISTS flows_subscriber ON flows(subscriber);
CREATE INDEX IF NOT EXISTS flows_input ON flows(input_id);
-- Flows with evidence by subscriber, for the pass that decides them again at the end of a run
-- (src/report/redecide.ts): partial, so a flow with none (most of them) adds nothing to it.
CREATE INDEX IF NOT EXISTS flows_evidence ON flows(subscriber, id) WHERE rules != '';
CREATE TABLE IF NOT EXISTS evidence (
  flow_id INTEGER NOT NULL REFERENCES flows(id),
  rule_id TEXT NOT NULL,
  rev     INTEGER NOT NULL,
  kind    TEXT NOT NULL,
  side    TEXT NOT NULL,
  family  TEXT NOT NULL,
  matched TEXT NOT NULL,
  excerpt TEXT NOT NULL,
  offset  INTEGER NOT NULL,
  time    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_flow ON evidence(flow_id);
CREATE TABLE IF NOT EXISTS subscriber_info (
  subscriber TEXT PRIMARY KEY,
  account    TEXT,
  type       TEXT,
  region     TEXT,
  prefixes   TEXT NOT NULL,
  source     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS algorithms (
  id           TEXT PRIMARY KEY,
  unit         TEXT NOT NULL,
  j_per_h_low  REAL,
  j_per_h_high REAL,
  hardware     TEXT,
  sources      TEXT NOT NULL,
  rules        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS power_readings (
  subscriber   TEXT NOT NULL,
  period_start INTEGER NOT NULL,
  period_end   INTEGER NOT NULL,
  kwh          REAL NOT NULL,
  source       TEXT NOT NULL,
  PRIMARY KEY (subscriber, period_start, period_end)
);
CREATE TABLE IF NOT EXISTS subscriber_hashrate (
  subscriber   TEXT NOT NULL,
  coin         TEXT,
  algorithm    TEXT,
  unit         TEXT NOT NULL,
  flows        INTEGER NOT NULL,
  shares       INTEGER NOT NULL,
  unvalued     INTEGER NOT NULL,
  hashes       REAL NOT NULL,
  seconds      REAL NOT NULL,
  hashrate_hs  REAL,
  rel_err      REAL,
  reported_hs  REAL,
  power_w_low  REAL,
  power_w_high REAL
);
CREATE INDEX IF NOT EXISTS subscriber_hashrate_sub ON subscriber_hashrate(subscriber);
CREATE TABLE IF NOT EXISTS subscribers (
  subscriber   TEXT PRIMARY KEY,
  first_seen   INTEGER NOT NULL,
  last_seen    INTEGER NOT NULL,
  mining_flows INTEGER NOT NULL,
  account      TEXT,
  type         TEXT,
  region       TEXT,
  servers      TEXT NOT NULL,
  pools        TEXT NOT NULL,
  coins        TEXT NOT NULL,
  agents       TEXT NOT NULL,
  workers      TEXT NOT NULL,
  confidence   TEXT NOT NULL,
  evidence     TEXT NOT NULL,
  shares       INTEGER NOT NULL DEFAULT 0,
  hashrate     TEXT,
  hashrate_hs  REAL,
  hashrate_rel_err REAL,
  power_w_low  REAL,
  power_w_high REAL,
  power_check  TEXT,
  power_note   TEXT
);
${PROBES_SQL}`;

/**
 * Upgrades an older report in place, so daily runs go on across a minerwatch upgrade. Version 3 → 4
 * added share counts and hashrate (flows), algorithms, power readings and the subscriber figures;
 * 4 → 5 added the results of `minerwatch probe`; 5 → 6 the state of every input and the process
 * that owns each run (so a killed run is told from a running one).
 */
export const MIGRATIONS: Record<number, string> = {
  3: `
ALTER TABLE flows ADD COLUMN shares_submitted INTEGER;
ALTER TABLE flows ADD COLUMN shares_accepted INTEGER;
ALTER TABLE flows ADD COLUMN shares_rejected INTEGER;
ALTER TABLE flows ADD COLUMN shares INTEGER;
ALTER TABLE flows ADD COLUMN share_hashes REAL;
ALTER TABLE flows ADD COLUMN algorithm TEXT;
ALTER TABLE flows ADD COLUMN reported_hs REAL;
ALTER TABLE subscribers ADD COLUMN shares INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN hashrate TEXT;
ALTER TABLE subscribers ADD COLUMN hashrate_hs REAL;
ALTER TABLE subscribers ADD COLUMN hashrate_rel_err REAL;
ALTER TABLE subscribers ADD COLUMN power_w_low REAL;
ALTER TABLE subscribers ADD COLUMN power_w_high REAL;
ALTER TABLE subscribers ADD COLUMN power_check TEXT;
ALTER TABLE subscribers ADD COLUMN power_note TEXT;
`,
  4: PROBES_SQL,
  // Inputs of runs that ended are taken as complete, except those of interrupted runs (which one
  // was cut is not recorded: a rerun replaces them all) and those that failed; a run still marked
  // running has no owner process recorded, so the next scan treats it as killed.
  5: `
ALTER TABLE runs ADD COLUMN command TEXT NOT NULL DEFAULT 'scan';
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN proc_start TEXT;
ALTER TABLE runs ADD COLUMN boot_id TEXT;
ALTER TABLE runs ADD COLUMN pid_ns TEXT;
ALTER TABLE runs ADD COLUMN heartbeat INTEGER;
ALTER TABLE inputs ADD COLUMN status TEXT NOT NULL DEFAULT 'reading';
ALTER TABLE inputs ADD COLUMN note TEXT;
UPDATE inputs SET status = CASE
  WHEN error IS NOT NULL THEN 'failed'
  WHEN (SELECT status FROM runs WHERE runs.id = inputs.run_id) = 'complete' THEN 'complete'
  WHEN (SELECT status FROM runs WHERE runs.id = inputs.run_id) = 'interrupted' THEN 'interrupted'
  ELSE 'reading' END;
`,
};

/** Every table with its columns, for the schema-doc check. */
export const TABLES = ['meta', 'runs', 'inputs', 'anomalies', 'anomaly_samples', 'flows', 'evidence', 'subscriber_info', 'algorithms', 'power_readings', 'subscriber_hashrate', 'subscribers', 'probes'] as const;
