/**
 * The compiled template decoder (templates.ts: a per-template op list over a Float64Array scratch)
 * against the decoder it replaced (legacy-templates.ts: a switch per field per record), on seeded
 * random templates and data sets: every element the decoder reads, at right and wrong lengths, in
 * any order and repeated, unknown and enterprise elements, variable-length fields (also cut short),
 * v9 options scope fields, options data feeding the domain's sampling and clock, zero addresses of
 * either family, and padding. Records (object and numeric paths), anomalies, counters and domain
 * state must be the same, except for what the compiled decoder added since: NAT events without a
 * destination (delivered with an empty dstAddr for the CGNAT mapping; the legacy decoder dropped
 * them), which are checked on their own. Fixed IPv4 templates laid out for the numeric sink are
 * read by a reader made per template (src/decode/templates/reader.ts): both kinds of reader, the
 * one made as code and the one that makes none, are checked.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExportAnomaly, ExportRecord, ExportStats } from '../../src/decode/flowexport.js';
import { IE, PEN } from '../../src/decode/ie.js';
import {
  Scratch,
  TemplateCache,
  VARLEN,
  compileTemplate,
  decodeDataSet,
  makeTemplate,
  newNumericRecord,
  type FieldSpec,
  type MessageHeader,
  type NumericRecord,
  type RecordContext,
  type Template,
} from '../../src/decode/templates.js';
import { mulberry32 } from '../support/random.js';
import { decodeDataSet as legacyDecodeDataSet } from './legacy-templates.js';

type Decode = typeof decodeDataSet;

/** Which layout reader the decoder gets: the one it picks (made as code, here), or the interpreted one. */
const readerKind = vi.hoisted(() => ({ interpreted: false }));
vi.mock('../../src/decode/templates/reader.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/decode/templates/reader.js')>();
  return { ...m, layoutReader: (l: Parameters<typeof m.layoutReader>[0]) => (readerKind.interpreted ? m.interpretedReader(l) : m.layoutReader(l)) };
});
afterEach(() => {
  readerKind.interpreted = false;
});

// observationTimeMilliseconds came after the legacy decoder (which never read it): left out here.
const ELEMENTS = [...new Set(Object.values(IE))].filter((id) => id !== IE.observationTimeMilliseconds);
/** Elements the decoder does not read. */
const OTHER = [5, 10, 14, 58, 136, 999, 32767];
const REVERSE = [IE.octetDeltaCount, IE.packetDeltaCount, IE.octetTotalCount, IE.packetTotalCount, IE.protocolIdentifier, IE.sourceIPv4Address];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

/** The usual length of an element, so most fields are read (other lengths are skipped). */
function usualLength(id: number): number {
  switch (id) {
    case IE.sourceIPv4Address:
    case IE.destinationIPv4Address:
    case IE.postNATSourceIPv4Address:
    case IE.postNATDestinationIPv4Address:
      return 4;
    case IE.sourceIPv6Address:
    case IE.destinationIPv6Address:
    case IE.postNATSourceIPv6Address:
    case IE.postNATDestinationIPv6Address:
      return 16;
    case IE.protocolIdentifier:
    case IE.tcpControlBits:
    case IE.ipVersion:
    case IE.flowDirection:
    case IE.natEvent:
      return 1;
    case IE.sourceTransportPort:
    case IE.destinationTransportPort:
    case IE.postNAPTSourceTransportPort:
    case IE.postNAPTDestinationTransportPort:
    case IE.portRangeStart:
    case IE.portRangeEnd:
      return 2;
    default:
      return 8;
  }
}

function randomField(rnd: () => number, version: 9 | 10): FieldSpec {
  const r = rnd();
  let id: number;
  let enterprise = 0;
  if (r < 0.75) id = pick(rnd, ELEMENTS);
  else if (r < 0.85) id = pick(rnd, OTHER);
  else if (version === 10 && r < 0.95) {
    id = pick(rnd, REVERSE);
    enterprise = PEN.reverse;
  } else if (version === 10) {
    id = pick(rnd, ELEMENTS);
    enterprise = PEN.cisco;
  } else id = pick(rnd, ELEMENTS);
  const l = rnd();
  let length = usualLength(id);
  if (l < 0.1) length = pick(rnd, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16]);
  else if (l < 0.2 && version === 10) length = VARLEN;
  else if (l < 0.3 && length === 8) length = pick(rnd, [1, 2, 4]);
  return { id, enterprise, length };
}

function randomTemplate(rnd: () => number, version: 9 | 10, id: number, options: boolean): Template {
  for (;;) {
    const n = 1 + Math.floor(rnd() * 14);
    const fields: FieldSpec[] = [];
    for (let i = 0; i < n; i++) fields.push(randomField(rnd, version));
    // Often a flow record proper: both addresses of one family first.
    if (!options && rnd() < 0.6) {
      const v6 = rnd() < 0.3;
      fields.unshift(
        { id: v6 ? IE.sourceIPv6Address : IE.sourceIPv4Address, enterprise: 0, length: v6 ? 16 : 4 },
        { id: v6 ? IE.destinationIPv6Address : IE.destinationIPv4Address, enterprise: 0, length: v6 ? 16 : 4 },
      );
    }
    const scopeCount = options ? 1 + Math.floor(rnd() * Math.min(2, fields.length)) : 0;
    const t = makeTemplate(version, id, options, scopeCount, fields);
    if (t) return t;
  }
}

/** A byte that is often 0 (zero addresses, absent-looking counters) and often small. */
function randomByte(rnd: () => number): number {
  const r = rnd();
  return r < 0.3 ? 0 : r < 0.5 ? Math.floor(rnd() * 4) : Math.floor(rnd() * 256);
}

function randomBody(rnd: () => number, t: Template): Uint8Array {
  const out: number[] = [];
  const records = Math.floor(rnd() * 5);
  for (let r = 0; r < records; r++) {
    for (const f of t.fields) {
      let len = f.length;
      if (len === VARLEN) {
        len = rnd() < 0.5 ? pick(rnd, [0, 1, 2, 4, 8, 16]) : Math.floor(rnd() * 20);
        if (rnd() < 0.2) out.push(255, len >> 8, len & 255);
        else out.push(len);
      }
      for (let i = 0; i < len; i++) out.push(randomByte(rnd));
    }
  }
  // Padding, or a record cut short.
  const tail = Math.floor(rnd() * (t.minLength + 2));
  for (let i = 0; i < tail; i++) out.push(randomByte(rnd));
  return Uint8Array.from(out);
}

interface Outcome {
  records: ExportRecord[];
  numeric: NumericRecord[];
  anomalies: ExportAnomaly[];
  stats: ExportStats;
  domain: unknown;
  /** NAT events without a destination (compiled decoder only). */
  natEvents?: ExportRecord[];
}

function runSets(decode: Decode, sets: Array<{ hdr: MessageHeader; t: Template; body: Uint8Array; base: number }>, numericPath: boolean): Outcome {
  const stats: ExportStats = { datagrams: 0, records: 0, templates: 0, templateMisses: 0, pendingDropped: 0, optionsRecords: 0 };
  const cache = new TemplateCache(64, 8, stats);
  const out: Outcome = { records: [], numeric: [], anomalies: [], stats, domain: null };
  const ctx: RecordContext = {
    cache,
    stats,
    origin: 0,
    input: '',
    onRecord: (r) => (r.dstAddr === '' ? (out.natEvents ??= []).push(r) : out.records.push(r)),
    onAnomaly: (a) => out.anomalies.push(a),
    onNumeric: numericPath ? (n) => out.numeric.push({ ...n }) : undefined,
    scratch: new Scratch(),
    numeric: newNumericRecord(),
  };
  for (const s of sets) {
    // The set inside a larger buffer, as in a datagram.
    const buf = new Uint8Array(s.body.length + 7).fill(0xee);
    buf.set(s.body, 3);
    decode(ctx, s.hdr, s.t, buf, 3, 3 + s.body.length, s.base);
  }
  const d = cache.domain(sets[0]!.hdr.version, sets[0]!.hdr.exporter, sets[0]!.hdr.domain);
  out.domain = { sampling: d.sampling, sysInitMs: d.sysInitMs, samplers: [...d.samplers] };
  return out;
}

describe('compiled template decoding', () => {
  it('gives what the per-field decoder gave on 3000 seeded random templates and data sets', () => {
    const rnd = mulberry32(20261122);
    let records = 0;
    let numeric = 0;
    let nat = 0;
    for (let c = 0; c < 3000; c++) {
      const version: 9 | 10 = rnd() < 0.5 ? 9 : 10;
      const hdr: MessageHeader = {
        version,
        exporter: '192.0.2.1',
        domain: 7,
        exportMs: 1_700_000_000_000 + Math.floor(rnd() * 1e9),
        sysUptime: version === 9 ? Math.floor(rnd() * 2 ** 32) : null,
      };
      const sets: Array<{ hdr: MessageHeader; t: Template; body: Uint8Array; base: number }> = [];
      const n = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < n; i++) {
        const t = randomTemplate(rnd, version, 256 + i, rnd() < 0.3);
        sets.push({ hdr, t, body: randomBody(rnd, t), base: Math.floor(rnd() * 100) });
        // The same template again: the scratch carries over from set to set and record to record.
        if (rnd() < 0.3) sets.push({ hdr, t, body: randomBody(rnd, t), base: 0 });
      }
      for (const numericPath of [false, true]) {
        const want = runSets(legacyDecodeDataSet as Decode, sets, numericPath);
        const { natEvents = [], ...got } = runSets(decodeDataSet, sets, numericPath);
        for (const e of natEvents) {
          expect(e.nat, `case ${c}: a NAT event carries NAT elements`).not.toBeNull();
          expect(e.srcAddr).not.toBe('');
        }
        nat += natEvents.length;
        got.stats = { ...got.stats, records: got.stats.records - natEvents.length };
        expect(got, `case ${c}, numeric path ${numericPath}`).toEqual(want);
        records += want.records.length;
        numeric += want.numeric.length;
      }
    }
    // The cases reach both paths and both families.
    expect(records).toBeGreaterThan(2000);
    expect(numeric).toBeGreaterThan(1000);
    expect(nat).toBeGreaterThan(0);
  });

  it.each([
    ['made as code', false],
    ['that makes no code', true],
  ] as const)('reads fixed IPv4 templates laid out for the numeric sink as the per-field decoder did (1500 seeded templates), with the reader %s', (_kind, interpreted) => {
    readerKind.interpreted = interpreted;
    // Templates that get a FlowLayout: both IPv4 addresses and distinct elements the numeric sink
    // reads (ports, protocol, flags, every counter kind, every time kind), at usual and reduced
    // lengths, with unread elements between them; options data before them sets the domain's
    // sampling interval and system init time.
    const LAID = [
      IE.sourceTransportPort, IE.destinationTransportPort, IE.protocolIdentifier, IE.tcpControlBits,
      IE.packetDeltaCount, IE.octetDeltaCount, IE.packetTotalCount, IE.octetTotalCount,
      IE.initiatorPackets, IE.initiatorOctets, IE.responderPackets, IE.responderOctets,
      IE.flowStartSysUpTime, IE.flowEndSysUpTime, IE.flowStartSeconds, IE.flowEndSeconds,
      IE.flowStartMilliseconds, IE.flowEndMilliseconds, IE.flowStartMicroseconds, IE.flowEndNanoseconds,
      IE.flowStartDeltaMicroseconds, IE.flowEndDeltaMicroseconds,
    ];
    const rnd = mulberry32(20261205);
    let laidOut = 0;
    let numeric = 0;
    for (let c = 0; c < 1500; c++) {
      const version: 9 | 10 = rnd() < 0.5 ? 9 : 10;
      const hdr: MessageHeader = {
        version,
        exporter: '192.0.2.9',
        domain: 3,
        exportMs: 1_700_000_000_000 + Math.floor(rnd() * 1e9),
        sysUptime: version === 9 ? Math.floor(rnd() * 2 ** 32) : null,
      };
      const sets: Array<{ hdr: MessageHeader; t: Template; body: Uint8Array; base: number }> = [];
      if (rnd() < 0.5) {
        const fields: FieldSpec[] = [
          { id: 1, enterprise: 0, length: 4 },
          { id: IE.samplingInterval, enterprise: 0, length: 4 },
          { id: IE.systemInitTimeMilliseconds, enterprise: 0, length: 8 },
        ];
        const o = makeTemplate(version, 300, true, 1, fields)!;
        sets.push({ hdr, t: o, body: randomBody(rnd, o), base: 0 });
      }
      const fields: FieldSpec[] = [
        { id: IE.sourceIPv4Address, enterprise: 0, length: 4 },
        { id: IE.destinationIPv4Address, enterprise: 0, length: 4 },
      ];
      const pool = [...LAID];
      const extra = Math.floor(rnd() * 9);
      for (let i = 0; i < extra && pool.length > 0; i++) {
        const id = pool.splice(Math.floor(rnd() * pool.length), 1)[0]!;
        let length = usualLength(id);
        if (length === 8 && rnd() < 0.3) length = pick(rnd, [1, 2, 4]);
        fields.splice(Math.floor(rnd() * (fields.length + 1)), 0, { id, enterprise: 0, length });
        if (rnd() < 0.2) fields.splice(Math.floor(rnd() * (fields.length + 1)), 0, { id: pick(rnd, OTHER), enterprise: 0, length: pick(rnd, [1, 2, 4, 16]) });
      }
      if (version === 10 && rnd() < 0.3) fields.push({ id: pick(rnd, [IE.packetDeltaCount, IE.octetDeltaCount]), enterprise: PEN.reverse, length: 8 });
      const t = makeTemplate(version, 256, false, 0, fields)!;
      if (compileTemplate(t).layout !== null) laidOut++;
      sets.push({ hdr, t, body: randomBody(rnd, t), base: 5 });
      if (rnd() < 0.3) sets.push({ hdr, t, body: randomBody(rnd, t), base: 0 });
      const want = runSets(legacyDecodeDataSet as Decode, sets, true);
      const got = runSets(decodeDataSet, sets, true);
      expect(got, `case ${c}`).toEqual(want);
      numeric += want.numeric.length;
    }
    expect(laidOut).toBeGreaterThan(1000);
    expect(numeric).toBeGreaterThan(2000);
  });
});
