/**
 * Languages and time zones for the administration-facing outputs (`summary`, `report --html`, the
 * watch-list headers). English and Simplified Chinese; every label printed by those commands comes
 * from the catalogue below, so both languages always carry the same set of messages (a test checks).
 *
 * Times are stored in UTC (ms since the epoch) and shown in an IANA zone as
 * `YYYY-MM-DD HH:MM:SS ±HH:MM` — the numeric UTC offset, never an abbreviation (CST is both China
 * and US Central time), so a shown time is unambiguous in both languages.
 */
import { UsageError } from './errors.js';

export type Lang = 'en' | 'zh-CN';
export const LANGS: readonly Lang[] = ['en', 'zh-CN'];

/** `--lang` if given (en, zh-CN; zh, zh_CN, zh-Hans also mean zh-CN), else LC_ALL / LC_MESSAGES / LANG starting with zh → zh-CN, else en. */
export function resolveLang(flag?: string, env: NodeJS.ProcessEnv = process.env): Lang {
  if (flag !== undefined && flag !== '') {
    const f = flag.trim().toLowerCase().replace('_', '-');
    if (f === 'en' || f.startsWith('en-')) return 'en';
    if (f === 'zh' || f === 'zh-cn' || f === 'zh-hans' || f === 'zh-hans-cn') return 'zh-CN';
    throw new UsageError(`--lang ${JSON.stringify(flag)}: expected one of ${LANGS.join(', ')}`);
  }
  // POSIX precedence: the first of these that is set and non-empty decides.
  for (const k of ['LC_ALL', 'LC_MESSAGES', 'LANG']) {
    const v = env[k];
    if (v) return v.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
  }
  return 'en';
}

const zoneCache = new Map<string, Intl.DateTimeFormat>();

/** A fixed offset: `+08:00`, `+0800`, `+8`, `UTC+8`, `GMT-05:30`. */
const OFFSET = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/i;

/**
 * Check a time zone and return its canonical form: an IANA name (`UTC`, `Asia/Shanghai` …) or a
 * fixed offset, written `+08:00`. Abbreviations (CST, EST, IST …) are refused: CST alone is China,
 * US Central or Cuba standard time, and the platform would silently take one of them.
 * @throws UsageError naming the zone and what is expected.
 */
export function checkZone(tz: string | undefined): string {
  const zone = tz === undefined || tz === '' ? 'UTC' : tz.trim();
  const off = OFFSET.exec(zone);
  if (off) {
    const h = Number(off[2]);
    const m = Number(off[3] ?? 0);
    if (h > 14 || m > 59) throw new UsageError(`--tz ${JSON.stringify(zone)}: an offset is at most ±14:00; expected e.g. +08:00`);
    return `${off[1]}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
  }
  if (/^[A-Za-z]{2,5}$/.test(zone) && !/^(UTC|GMT|Z)$/i.test(zone))
    throw new UsageError(`--tz ${JSON.stringify(zone)}: a zone abbreviation is ambiguous (CST is China, US Central and Cuba standard time); give an IANA name such as Asia/Shanghai, or an offset such as +08:00`);
  if (/^z$/i.test(zone)) return 'UTC';
  return formatter(zone).resolvedOptions().timeZone;
}

/** Minutes east of UTC of a fixed-offset zone as {@link checkZone} writes it, or null for a named zone. */
function offsetMinutes(tz: string): number | null {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(tz);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : null;
}

function formatter(zone: string): Intl.DateTimeFormat {
  let f = zoneCache.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
        timeZoneName: 'longOffset',
      });
    } catch {
      throw new UsageError(`--tz ${JSON.stringify(zone)}: not a known IANA time zone; expected e.g. UTC, Asia/Shanghai, Asia/Urumqi`);
    }
    zoneCache.set(zone, f);
  }
  return f;
}

function parts(ms: number, tz: string): Record<string, string> {
  const out: Record<string, string> = {};
  const fixed = offsetMinutes(tz);
  for (const p of formatter(fixed === null ? tz : 'UTC').formatToParts(new Date(fixed === null ? ms : ms + fixed * 60_000))) out[p.type] = p.value;
  if (fixed !== null) out.timeZoneName = fixed === 0 ? 'GMT' : `GMT${tz}`;
  return out;
}

/** `2026-11-21 08:00:00 +08:00` for ms in zone tz (default UTC, shown as +00:00). */
export function formatTime(ms: number, tz = 'UTC'): string {
  const p = parts(ms, tz);
  // longOffset gives "GMT+08:00", or "GMT" for a zero offset.
  const off = (p.timeZoneName ?? 'GMT').replace(/^GMT/, '') || '+00:00';
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${off}`;
}

/** The calendar day (`YYYY-MM-DD`) of ms in zone tz. */
export function dayOf(ms: number, tz = 'UTC'): string {
  const p = parts(ms, tz);
  return `${p.year}-${p.month}-${p.day}`;
}

const EN = {
  summaryTitle: 'Cryptocurrency mining summary',
  reportTitle: 'Cryptocurrency mining report',
  report: 'Report',
  minConfidence: 'Minimum confidence',
  timeZone: 'Times shown in',
  miningSubscribers: 'Mining subscribers',
  miningFlows: 'Mining flows',
  period: 'Period',
  periodNone: 'no mining seen',
  hashrate: 'Hashrate',
  energy: 'Energy (kWh/day)',
  notMeasured: 'not measured',
  measuredFor: (k: number, n: number) => `measured for ${k} of ${n} subscribers`,
  fromShares: (n: number, time: string) => `from ${n} share${n === 1 ? '' : 's'} over ${time}`,
  unvaluedShares: (n: number) => `${n} share${n === 1 ? '' : 's'} not valued (no difficulty seen, or no algorithm known for it)`,
  minerReports: 'miner reports',
  unknownCoin: 'unknown coin',
  byCoin: 'By coin',
  byType: 'By subscriber type',
  byRegion: 'By region',
  coin: 'Coin',
  type: 'Type',
  region: 'Region',
  subscribers: 'Subscribers',
  flows: 'Flows',
  unknown: 'unknown',
  method: 'Method',
  charts: 'Charts',
  chartActivity: 'Mining subscribers active per day',
  chartByCoin: 'Mining subscribers by coin',
  chartByType: 'Mining subscribers by type',
  chartByRegion: 'Mining subscribers by region',
  chartDaysCapped: (shown: number, total: number) => `last ${shown} of ${total} days shown`,
  chartActivityWeek: 'Mining subscribers active per week',
  chartActivityMonth: 'Mining subscribers active per month',
  chartBinsNote: (unit: 'day' | 'week' | 'month', bins: number, days: number) =>
    unit === 'day'
      ? `${days} days`
      : unit === 'week'
        ? `${bins} weeks (Monday to Sunday) over ${days} days: a subscriber active on any day of a week counts once in it`
        : `${bins} calendar months over ${days} days: a subscriber active on any day of a month counts once in it`,
  // Evidence lines (the report stores them in English; see translateEvidence).
  evidenceKinds: {
    payload: 'payload',
    http: 'http',
    handshake: 'handshake',
    sni: 'sni',
    host: 'host',
    dns: 'dns',
    'dns-query': 'dns-query',
    'dns-log': 'dns-log',
    'dns-log-shared': 'dns-log-shared',
    endpoint: 'endpoint',
    'endpoint-port': 'endpoint-port',
    port: 'port',
    behaviour: 'behaviour',
    'behaviour-weak': 'behaviour-weak',
    peer: 'peer',
    session: 'session',
    'pool-endpoints': 'pool-endpoints',
  } as Record<string, string>,
  labels: { mining: 'mining', suspect: 'suspect', none: 'none' } as Record<string, string>,
  evSubscriber: (flows: number, byLevel: string, servers: number, rules: string, outcomes: string | null, strongest: string) =>
    `${flows} mining flow${flows === 1 ? '' : 's'} (${byLevel}) to ${servers} server${servers === 1 ? '' : 's'}; rules ${rules}${outcomes ? `; outcomes: ${outcomes}` : ''}; strongest: ${strongest}`,
  evLevelCount: (n: number, level: string) => `${n} ${level}`,
  evOutcomeCount: (outcome: string, n: number) => `${outcome} ${n}`,
  evListSep: ', ',
  evReason: (label: string, outcome: string | null, families: string | null, server: string | null, facts: string) =>
    `${label}${outcome ? ` (${outcome})` : ''}${families ? `: ${families}` : ''}${server ? ` with ${server}` : ''} — ${facts}`,
  evFactSep: '; ',
  evSent: (side: 'client' | 'server', what: string) => `${side} sent ${what}`,
  evKindFact: (kind: string, matched: string) => `${kind}: ${matched}`,
  evServerPort: (port: string) => `server port ${port}`,
  evListed: (endpoint: string, how: string) => `${endpoint} listed (${how})`,
  evNone: 'no mining evidence',
  noData: 'no data',
  /** An empty watch list in a table: what was looked for, and in which report. */
  watchlistEmpty: (level: string, filters: string, db: string) => `no subscriber at ≥ ${level}${filters ? ` matching ${filters}` : ''} in ${db}`,
  subscriberTable: 'Subscribers',
  search: 'Search',
  searchPlaceholder: 'address, type, region, coin, pool, worker …',
  shown: 'shown',
  timeline: 'Timeline',
  timelineCapped: (shown: number, total: number) => `first ${shown} of ${total} mining flows shown`,
  time: 'Time',
  server: 'Server',
  outcome: 'Outcome',
  rules: 'Rules',
  confidence: 'Confidence',
  generated: 'Generated',
  to: 'to',
  levels: { low: 'low', medium: 'medium', high: 'high', none: 'none' } as Record<string, string>,
  types: {} as Record<string, string>,
  // Watch-list columns.
  subscriber: 'Subscriber',
  account: 'Account',
  addresses: 'Addresses (first – last seen)',
  firstSeen: 'First seen',
  lastSeen: 'Last seen',
  servers: 'Servers',
  pools: 'Pools',
  coins: 'Coins',
  agents: 'Miner software',
  workers: 'Workers / wallets',
  evidence: 'Evidence',
  powerCheck: 'Metered power',
  flowIds: 'Flow ids',
  incompleteInputs: (n: number) =>
    `This report holds ${n} incomplete input${n === 1 ? '' : 's'}; its figures may miss subscribers and flows that ${n === 1 ? 'it holds' : 'they hold'}:`,
  incompleteMore: (k: number) => `… and ${k} more`,
  method_subscribers: (level: string) =>
    `Mining subscribers: distinct subscribers with at least one flow labelled mining at confidence ${level} or higher; mining flows: those flows. A subscriber is a directory id (--subscribers) or else an address; a flow outside --subscriber-net has none and is not counted.`,
  method_period: 'Period: first and last packet of those flows.',
  method_coin:
    'Coin: per flow, from the mining protocol (CryptoNote → XMR, ETHPROXY → ETH), the listed pool, or the miner software; a subscriber whose flows name several coins counts under each, so the coin rows can add up to more than the total; flows that name none count under "unknown".',
  method_typeRegion: 'Type and region: from the subscriber directory given at scan time (--subscribers); subscribers not in it count under "unknown".',
  method_hashrateAbsent: 'Hashrate: not measured (this report holds no hashrate estimates); no figure is given rather than a guessed one.',
  method_hashrate:
    'Hashrate: the sum of the per-subscriber estimates in the report (subscribers.hashrate_hs, from accepted shares and their difficulty), per coin, because hashes of different algorithms do not add; ± combines the per-subscriber relative errors as independent (root sum of squares). Subscribers without an estimate are not counted: the total is a lower bound.',
  method_energyAbsent: 'Energy: not measured (this report holds no power estimates); no figure is given rather than a guessed one.',
  method_energy:
    'Energy: kWh per day = 24 h × the per-subscriber power range in the report (subscribers.power_w_low … power_w_high) / 1000, summed; subscribers without an estimate are not counted: the total is a lower bound.',
};

export type Catalogue = typeof EN;

const ZH: Catalogue = {
  summaryTitle: '加密货币挖矿汇总',
  reportTitle: '加密货币挖矿报告',
  report: '报告',
  minConfidence: '最低置信度',
  timeZone: '时间显示时区',
  miningSubscribers: '挖矿用户数',
  miningFlows: '挖矿流数',
  period: '时间范围',
  periodNone: '未发现挖矿',
  hashrate: '算力',
  energy: '耗电量（千瓦时/天）',
  notMeasured: '未测得',
  measuredFor: (k, n) => `${n} 个用户中测得 ${k} 个`,
  fromShares: (n, time) => `依据 ${time} 内 ${n} 个份额`,
  unvaluedShares: (n) => `${n} 个份额未计价（未见难度，或其算法未知）`,
  minerReports: '矿机自报',
  unknownCoin: '未知币种',
  byCoin: '按币种',
  byType: '按用户类型',
  byRegion: '按地区',
  coin: '币种',
  type: '类型',
  region: '地区',
  subscribers: '用户数',
  flows: '流数',
  unknown: '未知',
  method: '计算方法',
  charts: '图表',
  chartActivity: '每日活跃挖矿用户数',
  chartByCoin: '各币种挖矿用户数',
  chartByType: '各类型挖矿用户数',
  chartByRegion: '各地区挖矿用户数',
  chartDaysCapped: (shown, total) => `共 ${total} 天，显示最近 ${shown} 天`,
  chartActivityWeek: '每周活跃挖矿用户数',
  chartActivityMonth: '每月活跃挖矿用户数',
  chartBinsNote: (unit, bins, days) =>
    unit === 'day'
      ? `共 ${days} 天`
      : unit === 'week'
        ? `共 ${days} 天，按周（周一至周日）分为 ${bins} 组：一周内任一天活跃的用户在该周计一次`
        : `共 ${days} 天，按自然月分为 ${bins} 组：一月内任一天活跃的用户在该月计一次`,
  evidenceKinds: {
    payload: '载荷特征',
    http: 'HTTP 特征',
    handshake: '握手特征',
    sni: 'TLS 服务器名（SNI）',
    host: 'HTTP 主机名',
    dns: 'DNS 应答',
    'dns-query': 'DNS 查询',
    'dns-log': '解析日志',
    'dns-log-shared': '解析日志（共享地址）',
    endpoint: '已知矿池地址',
    'endpoint-port': '已知矿池地址和端口',
    port: '矿池端口',
    behaviour: '流量行为',
    'behaviour-weak': '流量行为（弱）',
    peer: '同一用户已证实的服务器',
    session: '会话特征',
    'pool-endpoints': '多个矿池地址',
  },
  labels: { mining: '挖矿', suspect: '疑似挖矿', none: '无' },
  evSubscriber: (flows, byLevel, servers, rules, outcomes, strongest) =>
    `${flows} 条挖矿流（${byLevel}），连接 ${servers} 个服务器；规则 ${rules}${outcomes ? `；判定依据：${outcomes}` : ''}；最强证据：${strongest}`,
  evLevelCount: (n, level) => `${level} ${n} 条`,
  evOutcomeCount: (outcome, n) => `${outcome} ${n} 条`,
  evListSep: '，',
  evReason: (label, outcome, families, server, facts) =>
    `${label}${outcome ? `（${outcome}）` : ''}${families ? `：${families}` : ''}${server ? `，服务器 ${server}` : ''} — ${facts}`,
  evFactSep: '；',
  evSent: (side, what) => `${side === 'client' ? '客户端' : '服务器'}发送 ${what}`,
  evKindFact: (kind, matched) => `${kind}：${matched}`,
  evServerPort: (port) => `服务器端口 ${port}`,
  evListed: (endpoint, how) => `${endpoint} 在列表中（${how}）`,
  evNone: '无挖矿证据',
  noData: '无数据',
  watchlistEmpty: (level: string, filters: string, db: string) => `${db} 中没有置信度 ≥ ${level}${filters ? `且符合 ${filters}` : ''} 的用户`,
  subscriberTable: '用户列表',
  search: '搜索',
  searchPlaceholder: '地址、类型、地区、币种、矿池、矿工名 …',
  shown: '已显示',
  timeline: '时间线',
  timelineCapped: (shown, total) => `共 ${total} 条挖矿流，显示前 ${shown} 条`,
  time: '时间',
  server: '服务器',
  outcome: '判定依据',
  rules: '规则',
  confidence: '置信度',
  generated: '生成时间',
  to: '至',
  levels: { low: '低', medium: '中', high: '高', none: '无' },
  types: { residential: '家庭宽带', enterprise: '企业', government: '政府机关', university: '高校', 'internet-cafe': '网吧', mobile: '移动网络', other: '其他' },
  subscriber: '用户',
  account: '账号',
  addresses: '地址（首次–最后发现）',
  firstSeen: '首次发现',
  lastSeen: '最后发现',
  servers: '服务器',
  pools: '矿池',
  coins: '币种',
  agents: '挖矿软件',
  workers: '矿工名/钱包',
  evidence: '证据',
  powerCheck: '电表核对',
  flowIds: '流编号',
  incompleteInputs: (n) => `本报告含 ${n} 个不完整的输入，各项数字可能遗漏其中的用户和流：`,
  incompleteMore: (k) => `… 另有 ${k} 个`,
  method_subscribers: (level) =>
    `挖矿用户数：至少有一条被判定为挖矿且置信度不低于“${level}”的流的不同用户数；挖矿流数：这些流的条数。用户为用户目录（--subscribers）中的编号，否则为地址；不在 --subscriber-net 范围内的流没有用户，不计入。`,
  method_period: '时间范围：这些流的第一个和最后一个数据包的时间。',
  method_coin:
    '币种：按每条流的挖矿协议（CryptoNote → XMR，ETHPROXY → ETH）、已知矿池或挖矿软件确定；流涉及多个币种的用户在每个币种下各计一次，因此各币种之和可能大于总数；未能确定币种的流计入“未知”。',
  method_typeRegion: '类型和地区：来自扫描时提供的用户目录（--subscribers）；目录中没有的用户计入“未知”。',
  method_hashrateAbsent: '算力：未测得（本报告不含算力估计）；宁缺毋滥，不给出推测数字。',
  method_hashrate:
    '算力：报告中各用户算力估计（subscribers.hashrate_hs，由被接受的份额及其难度得出）之和，按币种分列（不同算法的哈希不能相加）；± 按各用户相对误差相互独立合成（平方和开方）。没有估计的用户不计入，总数为下限。',
  method_energyAbsent: '耗电量：未测得（本报告不含功率估计）；宁缺毋滥，不给出推测数字。',
  method_energy:
    '耗电量：每日千瓦时 = 24 小时 × 报告中各用户功率范围（subscribers.power_w_low … power_w_high）/ 1000，再求和；没有估计的用户不计入，总数为下限。',
};

const CATALOGUES: Record<Lang, Catalogue> = { en: EN, 'zh-CN': ZH };

/** The message catalogue of a language. */
export function messages(lang: Lang): Catalogue {
  return CATALOGUES[lang];
}

/** A subscriber type shown in the language (the directory's English keyword when there is no translation). */
export function typeName(type: string, lang: Lang): string {
  return messages(lang).types[type] ?? type;
}

/** A confidence level shown in the language. */
export function levelName(level: string, lang: Lang): string {
  return messages(lang).levels[level] ?? level;
}

/** Splits `s` at `sep` where no parenthesis is open (a fact such as `sni: x (pool P; domain d)` holds the separator). */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && s.startsWith(sep, i)) {
      out.push(s.slice(from, i));
      from = i + sep.length;
      i += sep.length - 1;
    }
  }
  out.push(s.slice(from));
  return out;
}

const SUBSCRIBER_LINE = /^(\d+) mining flows? \(([^()]*)\) to (\d+) servers?; rules (.*?)(?:; outcomes: (.*?))?; strongest: ([\s\S]*)$/;
const REASON_LINE = /^(mining|suspect|none)(?: \(([^()]*)\))?(?:: ([A-Za-z0-9+._-]+))?(?: with (\S+))? — ([\s\S]*)$/;
const LEVEL_COUNT = /^(\d+) (high|medium|low|none)$/;
const OUTCOME_COUNT = /^(.+) (\d+)$/;
const SENT_FACT = /^(client|server) sent ([\s\S]*)$/;
const KIND_FACT = /^([a-z][a-z-]*): ([\s\S]*)$/;
const SERVER_PORT = /^server port (\d+)$/;
const LISTED = /^(\S+) listed \(([\s\S]*)\)$/;

/** The matched text of the kinds whose matcher writes a fixed shape; other matched text is a value. */
function translateMatched(kind: string, matched: string, m: Catalogue): string {
  const port = kind === 'port' ? SERVER_PORT.exec(matched) : null;
  if (port) return m.evServerPort(port[1]!);
  const listed = kind === 'endpoint' || kind === 'endpoint-port' ? LISTED.exec(matched) : null;
  if (listed) return m.evListed(listed[1]!, listed[2]!);
  return matched;
}

function translateFact(fact: string, m: Catalogue): string {
  const sent = SENT_FACT.exec(fact);
  if (sent) return m.evSent(sent[1] as 'client' | 'server', sent[2]!);
  const k = KIND_FACT.exec(fact);
  if (k && Object.hasOwn(m.evidenceKinds, k[1]!)) return m.evKindFact(m.evidenceKinds[k[1]!]!, translateMatched(k[1]!, k[2]!, m));
  return fact;
}

function translateReason(reason: string, m: Catalogue): string {
  if (reason === EN.evNone) return m.evNone;
  const r = REASON_LINE.exec(reason);
  if (!r) return reason;
  const facts = splitTop(r[5]!, EN.evFactSep).map((f) => translateFact(f, m)).join(m.evFactSep);
  return m.evReason(m.labels[r[1]!] ?? r[1]!, r[2] ?? null, r[3] ?? null, r[4] ?? null, facts);
}

/**
 * A stored evidence line (the report keeps it in English) in the language. Only the lines the
 * report writes are recognised — a subscriber's rollup (`3 mining flows (2 high, 1 medium) to 1
 * server; rules …; strongest: …`) and a flow's reason (`mining (confirmed): stratum-v1 with
 * 192.0.2.1:3333 — client sent …; sni: …`) — and their words are replaced from the catalogue, per
 * evidence kind, with the values (counts, rule ids, outcome names, addresses, matched names, bytes
 * off the wire) kept as they are. A line or fact of any other shape is returned unchanged; nothing
 * is machine-translated.
 */
export function translateEvidence(text: string, lang: Lang): string {
  if (lang === 'en') return text;
  const m = messages(lang);
  const s = SUBSCRIBER_LINE.exec(text);
  if (!s) return translateReason(text, m);
  const levels = s[2]!
    .split(', ')
    .map((x) => {
      const l = LEVEL_COUNT.exec(x);
      return l ? m.evLevelCount(Number(l[1]), levelName(l[2]!, lang)) : x;
    })
    .join(m.evListSep);
  const outcomes =
    s[5] === undefined
      ? null
      : s[5]
          .split(', ')
          .map((x) => {
            const o = OUTCOME_COUNT.exec(x);
            return o ? m.evOutcomeCount(o[1]!, Number(o[2])) : x;
          })
          .join(m.evListSep);
  return m.evSubscriber(Number(s[1]), levels, Number(s[3]), s[4]!, outcomes, translateReason(s[6]!, m));
}

export const WATCHLIST_KEYS = [
  'subscriber',
  'account',
  'addresses',
  'type',
  'region',
  'confidence',
  'firstSeen',
  'lastSeen',
  'miningFlows',
  'servers',
  'pools',
  'coins',
  'agents',
  'workers',
  'hashrate',
  'kwhPerDay',
  'powerCheck',
  'evidence',
  'flowIds',
] as const;
export type WatchlistKey = (typeof WATCHLIST_KEYS)[number];

/** Display names of the watch-list JSON keys. */
export function watchlistHeaders(lang: Lang): Record<WatchlistKey, string> {
  const m = messages(lang);
  return {
    subscriber: m.subscriber,
    account: m.account,
    addresses: m.addresses,
    type: m.type,
    region: m.region,
    confidence: m.confidence,
    firstSeen: m.firstSeen,
    lastSeen: m.lastSeen,
    miningFlows: m.miningFlows,
    servers: m.servers,
    pools: m.pools,
    coins: m.coins,
    agents: m.agents,
    workers: m.workers,
    hashrate: m.hashrate,
    kwhPerDay: m.energy,
    powerCheck: m.powerCheck,
    evidence: m.evidence,
    flowIds: m.flowIds,
  };
}
