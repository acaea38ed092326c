/**
 * import-pool-intel: turn the third-party pool/miner indicator lists kept in
 * ../shared/data/pool-intel/ into minerwatch endpoint rule files
 * (rules/endpoints/*.yaml). See rules/endpoints/README.md for the schema.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/import-pool-intel.js ../shared/data/pool-intel
 *
 * Output is deterministic (sorted, deduplicated, no timestamps), so running
 * the importer twice yields byte-identical files. Everything that is dropped
 * is reported on stderr with the reason.
 *
 * Node built-ins only; YAML is written by hand with every string quoted
 * JSON-style (a JSON string literal is a valid YAML double-quoted scalar).
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const IMPORT_DATE = "2026-11-21";
const SMASHED_RESOLVED = "2018-05-13";

const MALTRAIL_SOURCE =
  "maltrail trails/static/suspicious/crypto_mining.txt @ 8adace15 (MIT, see ../shared/data/pool-intel/maltrail-LICENSE)";
const NOCOIN_SOURCE =
  "NoCoin adblock list hosts.txt, https://github.com/hoshsadiq/adblock-nocoin-list/ (last modified 05 March 2025; MIT, see ../shared/data/pool-intel/nocoin-LICENSE)";
const SMASHED_SOURCE =
  "smashed-2018-05-servers.csv (pool stratum servers and the IPv4 addresses they resolved to, May 2018; upstream and licence not recorded in ../shared/data/pool-intel)";

// ---------------------------------------------------------------------------
// IP handling (IPv4 and IPv6, as bigint for range tests and sorting)

interface ParsedIp {
  v: 4 | 6;
  n: bigint;
  text: string; // canonical text
}

function parseIpv4(s: string): bigint | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let n = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? "";
    if (part.length > 1 && part.startsWith("0")) return null; // no octal-looking octets
    const o = Number(part);
    if (o > 255) return null;
    n = (n << 8n) | BigInt(o);
  }
  return n;
}

function parseIpv6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split("::").length > 2) return null;
  let tail4: bigint | null = null;
  let str = s;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    tail4 = parseIpv4(s.slice(lastColon + 1));
    if (tail4 === null) return null;
    str = s.slice(0, lastColon + 1) + "0:0";
  }
  const [headS, tailS] = str.includes("::") ? str.split("::") : [str, undefined];
  const head = headS ? headS.split(":") : [];
  const tail = tailS !== undefined && tailS !== "" ? tailS.split(":") : [];
  const groups = tailS === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
  if (groups.length !== 8 || (tailS !== undefined && head.length + tail.length > 7)) return null;
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== null) n = (n & ~0xffffffffn) | tail4;
  return n;
}

function formatIp(v: 4 | 6, n: bigint): string {
  if (v === 4) return [24n, 16n, 8n, 0n].map((sh) => String((n >> sh) & 0xffn)).join(".");
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // RFC 5952: compress the longest run (>=2) of zero groups
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === "0") j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return g.join(":");
  return `${g.slice(0, best).join(":")}::${g.slice(best + bestLen).join(":")}`;
}

function parseIp(s: string): ParsedIp | null {
  const v4 = parseIpv4(s);
  if (v4 !== null) return { v: 4, n: v4, text: formatIp(4, v4) };
  const v6 = s.includes(":") ? parseIpv6(s) : null;
  if (v6 !== null) return { v: 6, n: v6, text: formatIp(6, v6) };
  return null;
}

interface Cidr {
  v: 4 | 6;
  net: bigint;
  len: number;
}

function parseCidr(s: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return null;
  const ip = parseIp(m[1] ?? "");
  const len = Number(m[2]);
  if (!ip) return null;
  const bits = ip.v === 4 ? 32 : 128;
  if (len > bits) return null;
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  if ((ip.n & mask) !== ip.n) return null; // host bits set
  return { v: ip.v, net: ip.n, len };
}

function cidrContains(c: Cidr, ip: ParsedIp): boolean {
  if (c.v !== ip.v) return false;
  const bits = c.v === 4 ? 32 : 128;
  const shift = BigInt(bits - c.len);
  return ip.n >> shift === c.net >> shift;
}

// ---------------------------------------------------------------------------
// Exclusions

interface ExclusionRule {
  what: string;
  cidr: Cidr;
  why: string;
}

const BUILTIN_EXCLUSIONS: Array<[string, string]> = [
  ["1.1.1.1/32", "public DNS resolver (Cloudflare)"],
  ["1.0.0.1/32", "public DNS resolver (Cloudflare)"],
  ["8.8.8.8/32", "public DNS resolver (Google)"],
  ["8.8.4.4/32", "public DNS resolver (Google)"],
  ["9.9.9.9/32", "public DNS resolver (Quad9)"],
  ["208.67.222.222/32", "public DNS resolver (OpenDNS)"],
  ["208.67.220.220/32", "public DNS resolver (OpenDNS)"],
  ["0.0.0.0/8", "reserved: 'this network' (RFC 791/1122)"],
  ["10.0.0.0/8", "private address space (RFC 1918)"],
  ["100.64.0.0/10", "shared address space / CGNAT (RFC 6598)"],
  ["127.0.0.0/8", "loopback (RFC 1122)"],
  ["169.254.0.0/16", "link-local (RFC 3927)"],
  ["172.16.0.0/12", "private address space (RFC 1918)"],
  ["192.168.0.0/16", "private address space (RFC 1918)"],
  ["224.0.0.0/4", "multicast (RFC 5771)"],
  ["240.0.0.0/4", "reserved (RFC 1112)"],
];

/**
 * Reads the ip/cidr values of rules/endpoints/exclude.yaml. That file is
 * written by us in a fixed, simple shape (one `ip:` or `cidr:` key per
 * entry, values double-quoted), so a line scanner is enough here and keeps
 * the script free of npm dependencies. A trailing "# ..." comment on the
 * ip/cidr line is used as the human-readable reason in the stderr report.
 */
function loadExcludeYaml(path: string): ExclusionRule[] {
  if (!existsSync(path)) {
    process.stderr.write(`note: ${path} not found; using built-in exclusions only\n`);
    return [];
  }
  const rules: ExclusionRule[] = [];
  for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:-\s+)?(ip|cidr):\s*"?([0-9A-Fa-f.:/]+)"?\s*(?:#\s*(.*))?$/.exec(line);
    if (!m) continue;
    const key = m[1] ?? "";
    const val = m[2] ?? "";
    const note = (m[3] ?? "").trim();
    const cidr = key === "ip" ? ipToHostCidr(val) : parseCidr(val);
    if (!cidr) throw new Error(`exclude.yaml: cannot parse ${key} ${JSON.stringify(val)}`);
    rules.push({ what: val, cidr, why: `rules/endpoints/exclude.yaml${note ? `: ${note}` : ""}` });
  }
  return rules;
}

function ipToHostCidr(s: string): Cidr | null {
  const ip = parseIp(s);
  return ip ? { v: ip.v, net: ip.n, len: ip.v === 4 ? 32 : 128 } : null;
}

function buildExclusions(excludeYaml: string): ExclusionRule[] {
  const out: ExclusionRule[] = [];
  for (const [c, why] of BUILTIN_EXCLUSIONS) {
    const cidr = parseCidr(c);
    if (!cidr) throw new Error(`bad built-in exclusion ${c}`);
    out.push({ what: c, cidr, why });
  }
  return out.concat(loadExcludeYaml(excludeYaml));
}

function exclusionReason(rules: ExclusionRule[], ip: ParsedIp): string | null {
  for (const r of rules) if (cidrContains(r.cidr, ip)) return `${r.what}: ${r.why}`;
  return null;
}

/** Hostnames that parse but are not worth shipping as evidence. */
const DOMAIN_DROPS: Array<[RegExp, string]> = [
  [/\.onion$/, "Tor onion service: never appears in DNS or SNI on the wire"],
  [/^my\.domain$/, "placeholder name, '.domain' is not a delegated TLD"],
];

// ---------------------------------------------------------------------------
// Entries

interface Entry {
  domain?: string;
  suffix?: string;
  ip?: string;
  cidr?: string;
  port?: number;
  pool: string;
  coins?: string[];
  ports?: number[];
  kind?: string;
  source?: string;
  added?: string;
  reference?: string;
}

interface RuleFile {
  header: string[]; // leading comment lines
  source: string;
  added: string;
  kind: string;
  /** `listed`: the list gives no observation dates, `added` is only when it was taken. */
  dates?: "observed" | "listed";
  /** Block lists: a domain entry covers its subdomains, as the lists' own consumers apply it. */
  subdomains?: boolean;
  entries: Entry[];
}

const HOSTNAME_RE = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function normaliseHost(raw: string): string | null {
  const h = raw.trim().toLowerCase().replace(/\.+$/, "");
  return HOSTNAME_RE.test(h) ? h : null;
}

function firstUrl(s: string): string | undefined {
  const m = /https?:\/\/[^\s"'<>]+/.exec(s);
  return m ? m[0] : undefined;
}

const COIN_NAMES: Record<string, string> = {
  bitcoin: "BTC",
  bitcoincash: "BCH",
  "bitcoin cash": "BCH",
  bitcoinsv: "BSV",
  ethereum: "ETH",
  "ethereum classic": "ETC",
  ethereumclassic: "ETC",
  monero: "XMR",
  zcash: "ZEC",
  litecoin: "LTC",
  dash: "DASH",
  dogecoin: "DOGE",
  namecoin: "NMC",
  peercoin: "PPC",
  vertcoin: "VTC",
  ravencoin: "RVN",
  kaspa: "KAS",
  ergo: "ERG",
  grin: "GRIN",
  aeon: "AEON",
  siacoin: "SC",
};

function coinTicker(name: string, abbr: string): string | null {
  const fromName = COIN_NAMES[name.trim().toLowerCase()];
  if (fromName) return fromName;
  const t = (abbr || name).toUpperCase().replace(/[^A-Z0-9]/g, "");
  return /^[A-Z0-9]{2,10}$/.test(t) ? t : null;
}

// ---------------------------------------------------------------------------
// Sorting / dedup

function entryType(e: Entry): number {
  if (e.domain !== undefined) return 0;
  if (e.suffix !== undefined) return 1;
  if (e.ip !== undefined) return 2;
  return 3;
}

function ipSortKey(s: string): [number, bigint] {
  const ip = parseIp(s);
  if (!ip) throw new Error(`unsortable ip ${s}`);
  return [ip.v, ip.n];
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareEntries(a: Entry, b: Entry): number {
  const ta = entryType(a), tb = entryType(b);
  if (ta !== tb) return ta - tb;
  if (ta === 0) return cmpStr(a.domain ?? "", b.domain ?? "");
  if (ta === 1) return cmpStr(a.suffix ?? "", b.suffix ?? "");
  if (ta === 2) {
    const [va, na] = ipSortKey(a.ip ?? ""), [vb, nb] = ipSortKey(b.ip ?? "");
    if (va !== vb) return va - vb;
    const c = cmpBig(na, nb);
    if (c !== 0) return c;
    return (a.port ?? -1) - (b.port ?? -1);
  }
  const ca = parseCidr(a.cidr ?? ""), cb = parseCidr(b.cidr ?? "");
  if (!ca || !cb) throw new Error("unsortable cidr");
  if (ca.v !== cb.v) return ca.v - cb.v;
  return cmpBig(ca.net, cb.net) || ca.len - cb.len;
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function entryKey(e: Entry): string {
  if (e.domain !== undefined) return `d:${e.domain}`;
  if (e.suffix !== undefined) return `s:${e.suffix}`;
  if (e.ip !== undefined) return `i:${e.ip}:${e.port ?? ""}`;
  return `c:${e.cidr ?? ""}`;
}

// ---------------------------------------------------------------------------
// YAML output

function q(s: string): string {
  return JSON.stringify(s);
}

function renderFile(f: RuleFile): string {
  const out: string[] = [];
  for (const h of f.header) out.push(h ? `# ${h}` : "#");
  out.push(`source: ${q(f.source)}`);
  out.push(`added: ${f.added}`);
  out.push(`kind: ${f.kind}`);
  if (f.dates) out.push(`dates: ${f.dates}`);
  if (f.subdomains) out.push("subdomains: true");
  if (f.entries.length === 0) {
    out.push("entries: []");
    return out.join("\n") + "\n";
  }
  out.push("entries:");
  for (const e of f.entries) {
    const lines: string[] = [];
    if (e.domain !== undefined) lines.push(`domain: ${q(e.domain)}`);
    if (e.suffix !== undefined) lines.push(`suffix: ${q(e.suffix)}`);
    if (e.ip !== undefined) lines.push(`ip: ${q(e.ip)}`);
    if (e.cidr !== undefined) lines.push(`cidr: ${q(e.cidr)}`);
    if (e.port !== undefined) lines.push(`port: ${e.port}`);
    lines.push(`pool: ${q(e.pool)}`);
    if (e.coins && e.coins.length) lines.push(`coins: [${e.coins.map(q).join(", ")}]`);
    if (e.ports && e.ports.length) lines.push(`ports: [${e.ports.join(", ")}]`);
    if (e.kind !== undefined && e.kind !== f.kind) lines.push(`kind: ${e.kind}`);
    if (e.source !== undefined && e.source !== f.source) lines.push(`source: ${q(e.source)}`);
    if (e.added !== undefined && e.added !== f.added) lines.push(`added: ${e.added}`);
    if (e.reference !== undefined) lines.push(`reference: ${q(e.reference)}`);
    lines.forEach((l, i) => out.push(i === 0 ? `  - ${l}` : `    ${l}`));
  }
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------
// Importers

class Collector {
  private readonly map = new Map<string, Entry>();
  private readonly reported = new Set<string>();
  constructor(private readonly label: string, private readonly exclusions: ExclusionRule[]) {}

  drop(what: string, why: string): void {
    const msg = `${this.label}: dropped ${what}: ${why}\n`;
    if (this.reported.has(msg)) return; // report each distinct drop once
    this.reported.add(msg);
    process.stderr.write(msg);
  }

  addHost(raw: string, make: (host: string) => Entry): void {
    const host = normaliseHost(raw);
    if (!host) return this.drop(JSON.stringify(raw), "not a valid hostname");
    for (const [re, why] of DOMAIN_DROPS) if (re.test(host)) return this.drop(host, why);
    this.merge(make(host));
  }

  addIp(raw: string, port: number | undefined, make: (ip: string) => Entry): void {
    const ip = parseIp(raw.trim());
    if (!ip) return this.drop(JSON.stringify(raw), "not a valid IP address");
    if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
      return this.drop(`${ip.text}:${port}`, "port out of range");
    const why = exclusionReason(this.exclusions, ip);
    const shown = port === undefined ? ip.text : ip.v === 6 ? `[${ip.text}]:${port}` : `${ip.text}:${port}`;
    if (why) return this.drop(shown, why);
    const e = make(ip.text);
    if (port !== undefined) e.port = port;
    this.merge(e);
  }

  private merge(e: Entry): void {
    const k = entryKey(e);
    const old = this.map.get(k);
    if (!old) { this.map.set(k, e); return; }
    // duplicate: keep the first occurrence's provenance, union coins/ports
    if (e.coins) old.coins = [...new Set([...(old.coins ?? []), ...e.coins])].sort();
    if (e.ports) old.ports = [...new Set([...(old.ports ?? []), ...e.ports])].sort((a, b) => a - b);
    if (old.pool === "unknown" && e.pool !== "unknown") old.pool = e.pool;
    if (old.pool !== e.pool && e.pool !== "unknown")
      process.stderr.write(`${this.label}: note: ${k} claimed by both ${old.pool} and ${e.pool}; keeping ${old.pool}\n`);
  }

  entries(): Entry[] {
    return [...this.map.values()].sort(compareEntries);
  }
}

function importMaltrail(text: string, excl: ExclusionRule[]): RuleFile {
  const c = new Collector("maltrail", excl);
  // Each contiguous run of comment lines starts a new block; the block's
  // reference is the first URL on a "# Reference:" line of that run (or none,
  // e.g. "# Misc (incidents)" or the commented-out "# coinhive.com" trails).
  let reference: string | undefined;
  let inComment = false;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line) { inComment = false; continue; }
    if (line.startsWith("#")) {
      if (!inComment) { reference = undefined; inComment = true; }
      if (reference === undefined && /^#\s*Reference:/i.test(line)) reference = firstUrl(line);
      continue;
    }
    inComment = false;
    let ind = line.split(/\s+/)[0] ?? "";
    if (/^[a-z]+:\/\//i.test(ind)) {
      const stripped = ind.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
      process.stderr.write(`maltrail: note: indicator ${JSON.stringify(ind)} has a URL scheme; using ${stripped}\n`);
      ind = stripped;
    }
    const ref = reference;
    const mk = (e: Entry): Entry => (ref ? { ...e, reference: ref } : e);
    const ipPort = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(ind);
    if (ipPort) {
      c.addIp(ipPort[1] ?? "", Number(ipPort[2]), (ip) => mk({ ip, pool: "unknown" }));
    } else if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(ind) || ind.includes(":")) {
      c.addIp(ind, undefined, (ip) => mk({ ip, pool: "unknown" }));
    } else {
      c.addHost(ind, (domain) => mk({ domain, pool: "unknown" }));
    }
  }
  return {
    header: [
      "Generated by scripts/import-pool-intel.ts from ../shared/data/pool-intel/maltrail-crypto_mining.txt.",
      "Do not edit by hand; re-run the importer. Indicators are mining pools, miner",
      "download/donation hosts and malware-observed mining endpoints. IPs age quickly.",
    ],
    source: MALTRAIL_SOURCE,
    added: IMPORT_DATE,
    kind: "pool",
    dates: "listed",
    subdomains: true,
    entries: c.entries(),
  };
}

function importNocoin(text: string, excl: ExclusionRule[]): RuleFile {
  const c = new Collector("nocoin", excl);
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/#.*$/, "").trim();
    if (!line) continue;
    const parts = line.split(/\s+/);
    if (parts.length < 2) { c.drop(JSON.stringify(rawLine), "not a hosts-file line"); continue; }
    for (const name of parts.slice(1)) c.addHost(name, (domain) => ({ domain, pool: "unknown" }));
  }
  return {
    header: [
      "Generated by scripts/import-pool-intel.ts from ../shared/data/pool-intel/nocoin-hosts.txt.",
      "Do not edit by hand; re-run the importer. In-browser (JavaScript/WebAssembly)",
      "mining script hosts and their WebSocket proxies.",
    ],
    source: NOCOIN_SOURCE,
    added: IMPORT_DATE,
    kind: "browser-mining",
    dates: "listed",
    subdomains: true,
    entries: c.entries(),
  };
}

function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "", inQ = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQ) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') inQ = false;
      else cur += ch;
    } else if (ch === '"') inQ = true;
    else if (ch === ",") { out.push(cur); cur = ""; }
    else cur += ch;
  }
  out.push(cur);
  return out;
}

function importSmashed(text: string, excl: ExclusionRule[]): RuleFile {
  const c = new Collector("smashed-2018", excl);
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const head = parseCsvLine(lines[0] ?? "").map((h) => h.trim());
  const col = (name: string): number => {
    const i = head.indexOf(name);
    if (i < 0) throw new Error(`smashed csv: missing column ${name}`);
    return i;
  };
  const iPool = col("pool"), iUrl = col("pool_url"), iFqdn = col("server_fqdn"), iPort = col("port"),
    iCoin = col("coin"), iAbbr = col("coin_abbr"), iAddr = col("addresses_seen");
  for (const line of lines.slice(1)) {
    const f = parseCsvLine(line).map((x) => x.trim());
    const pool = f[iPool] || "unknown";
    const url = firstUrl(f[iUrl] ?? "");
    const port = Number(f[iPort]);
    const portOk = Number.isInteger(port) && port >= 1 && port <= 65535;
    const ticker = coinTicker(f[iCoin] ?? "", f[iAbbr] ?? "");
    if (!ticker) process.stderr.write(`smashed-2018: note: no ticker for coin ${JSON.stringify(f[iCoin])}; omitted\n`);
    const coins = ticker ? [ticker] : undefined;
    const ports = portOk ? [port] : undefined;
    const base = (): Omit<Entry, "pool"> => ({
      ...(coins ? { coins: [...coins] } : {}),
      ...(url ? { reference: url } : {}),
    });
    const fqdn = f[iFqdn] ?? "";
    if (parseIp(fqdn)) {
      // server given as an address literal: it is its own resolution
      if (portOk) c.addIp(fqdn, port, (ip) => ({ ip, pool, ...base(), added: SMASHED_RESOLVED }));
    } else {
      c.addHost(fqdn, (domain) => ({ domain, pool, ...base(), ...(ports ? { ports: [...ports] } : {}) }));
    }
    if (!portOk) { c.drop(`${fqdn} port ${JSON.stringify(f[iPort])}`, "no valid port; IP entries skipped"); continue; }
    for (const a of (f[iAddr] ?? "").split(/[\s;|]+/).filter(Boolean)) {
      if (a === fqdn) continue;
      c.addIp(a, port, (ip) => ({ ip, pool, ...base(), added: SMASHED_RESOLVED }));
    }
  }
  return {
    header: [
      "Generated by scripts/import-pool-intel.ts from ../shared/data/pool-intel/smashed-2018-05-servers.csv.",
      "Do not edit by hand; re-run the importer. Host names are the pools' 2018 stratum",
      "servers; ip entries are what those names resolved to on 2018-05-13 and are",
      "historic: treat them as weak, corroborating evidence only.",
    ],
    source: SMASHED_SOURCE,
    added: IMPORT_DATE,
    kind: "pool",
    entries: c.entries(),
  };
}

// ---------------------------------------------------------------------------

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "minerwatch") return dir;
      } catch { /* keep looking */ }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return process.cwd();
}

function main(): void {
  const root = findRepoRoot();
  const srcDir = process.argv[2] ? resolve(process.argv[2]) : resolve(root, "../shared/data/pool-intel");
  const outDir = join(root, "rules", "endpoints");
  mkdirSync(outDir, { recursive: true });
  const excl = buildExclusions(join(outDir, "exclude.yaml"));
  const read = (name: string): string => readFileSync(join(srcDir, name), "utf8");

  const files: Array<[string, RuleFile]> = [
    ["maltrail.yaml", importMaltrail(read("maltrail-crypto_mining.txt"), excl)],
    ["nocoin.yaml", importNocoin(read("nocoin-hosts.txt"), excl)],
    ["smashed-2018.yaml", importSmashed(read("smashed-2018-05-servers.csv"), excl)],
  ];
  for (const [name, f] of files) {
    writeFileSync(join(outDir, name), renderFile(f));
    const n = (t: number): number => f.entries.filter((e) => entryType(e) === t).length;
    process.stderr.write(`wrote rules/endpoints/${name}: ${f.entries.length} entries (${n(0)} domain, ${n(1)} suffix, ${n(2)} ip, ${n(3)} cidr)\n`);
  }
}

main();
