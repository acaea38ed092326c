/**
 * The op compiler: a template's field list, read against the information-element table
 * (../ie.ts), becomes a decoding program over a per-record scratch of numeric slots.
 *
 * Fixed-length templates (all of NetFlow v9, most of IPFIX) become (op, offset, length) triples
 * for the fields the decoder reads; variable-length templates keep one (op, declared length) pair
 * per field. The slots and ops defined here are the vocabulary the walker (walk.ts) executes and
 * the emitter (emit.ts) reads. Fixed IPv4 data templates may also get a {@link FlowLayout}: the
 * offsets of what the numeric sink takes, read without the walk.
 *
 * @see RFC 7011 §3.2 (field specifiers), §6.2 (reduced-size encoding), §7 (varlen encoding)
 * @see RFC 3954 §8 (v9 field types)
 */
import { IE, PEN } from '../ie.js';
import type { FieldSpec, Template } from './store.js';

/*
 * Per-record scratch: one Float64Array slot per value a record can carry, NaN while absent (so no
 * `number | null` fields, which would box every value that is not a small integer). IPv6 and NAT
 * addresses are kept as positions in the record's buffer and made into text only when an
 * {@link ExportRecord} object is built.
 */
// Slots below N_STORE take the field's unsigned value as it is (an op "store into slot k").
export const S_DELTA_BYTES = 0;
export const S_DELTA_PACKETS = 1;
export const S_TOTAL_BYTES = 2;
export const S_TOTAL_PACKETS = 3;
export const S_INIT_BYTES = 4;
export const S_INIT_PACKETS = 5;
export const S_RESP_BYTES = 6;
export const S_RESP_PACKETS = 7;
export const S_REV_DELTA_BYTES = 8;
export const S_REV_DELTA_PACKETS = 9;
export const S_REV_TOTAL_BYTES = 10;
export const S_REV_TOTAL_PACKETS = 11;
export const S_PROTOCOL = 12;
export const S_TCP_FLAGS = 13;
export const S_SRC_PORT = 14;
export const S_DST_PORT = 15;
export const S_IP_VERSION = 16;
export const S_DIRECTION = 17;
export const S_SAMPLING = 18;
export const S_PACKET_INTERVAL = 19;
export const S_PACKET_SPACE = 20;
export const S_SAMPLE_SIZE = 21;
export const S_SAMPLE_POPULATION = 22;
export const S_SAMPLER_ID = 23;
export const S_START_UP = 24;
export const S_END_UP = 25;
export const S_START_MS = 26;
export const S_END_MS = 27;
export const S_START_DELTA_US = 28;
export const S_END_DELTA_US = 29;
export const S_SYS_INIT_MS = 30;
export const S_NAT_EVENT = 31;
export const S_POST_SRC_PORT = 32;
export const S_POST_DST_PORT = 33;
export const S_RANGE_START = 34;
export const S_RANGE_END = 35;
/** observationTimeMilliseconds: when an event (a NAT event) happened. */
export const S_OBS_MS = 36;
export const N_STORE = 37;
// Slots set by the special ops.
/** IPv4 addresses as unsigned numbers. */
export const S_SRC4 = 37;
export const S_DST4 = 38;
/** 1 while every IPv4 (IPv6) address of the record is all zeros, else 0. */
export const S_V4_ZERO = 39;
export const S_V6_ZERO = 40;
/** Buffer positions of the 16 address bytes. */
export const S_SRC6_AT = 41;
export const S_DST6_AT = 42;
/** Buffer position of a post-NAT address and its length (4 or 16). */
export const S_POST_SRC_AT = 43;
export const S_POST_SRC_LEN = 44;
export const S_POST_DST_AT = 45;
export const S_POST_DST_LEN = 46;
/** Always 0: where a compiled template points a counter it does not carry. */
export const S_ZERO = 47;
export const N_SLOTS = 48;

// Special ops (a field that is not simply stored), numbered from N_SLOTS up.
export const K_SRC4 = 64;
export const K_DST4 = 65;
export const K_SRC6 = 66;
export const K_DST6 = 67;
export const K_POST_SRC4 = 68;
export const K_POST_DST4 = 69;
export const K_POST_SRC6 = 70;
export const K_POST_DST6 = 71;
export const K_START_SECONDS = 72;
export const K_END_SECONDS = 73;
export const K_START_NTP = 74;
export const K_END_NTP = 75;
/** A field the decoder does not read (skipped by its length). */
export const K_NONE = 127;

/** The state of a new record. */
const RESET = new Float64Array(N_SLOTS).fill(NaN);
RESET[S_SRC_PORT] = 0;
RESET[S_DST_PORT] = 0;
RESET[S_PROTOCOL] = 0;
RESET[S_TCP_FLAGS] = 0;
RESET[S_V4_ZERO] = 1;
RESET[S_V6_ZERO] = 1;
RESET[S_ZERO] = 0;

/** Reused per-record state (no allocation per record). */
export class Scratch {
  readonly v = new Float64Array(N_SLOTS);

  constructor() {
    this.reset();
  }

  /** Back to the state of a new record. */
  reset(): void {
    this.v.set(RESET);
  }
}

/** What the decoder does with field `f`, from its element id alone (lengths are checked per op). */
function fieldOp(f: FieldSpec): number {
  if (f.enterprise === PEN.reverse) {
    switch (f.id) {
      case IE.octetDeltaCount:
        return S_REV_DELTA_BYTES;
      case IE.packetDeltaCount:
        return S_REV_DELTA_PACKETS;
      case IE.octetTotalCount:
        return S_REV_TOTAL_BYTES;
      case IE.packetTotalCount:
        return S_REV_TOTAL_PACKETS;
      default:
        return K_NONE;
    }
  }
  if (f.enterprise !== 0) return K_NONE;
  switch (f.id) {
    case IE.sourceIPv4Address:
      return K_SRC4;
    case IE.destinationIPv4Address:
      return K_DST4;
    case IE.sourceIPv6Address:
      return K_SRC6;
    case IE.destinationIPv6Address:
      return K_DST6;
    case IE.postNATSourceIPv4Address:
      return K_POST_SRC4;
    case IE.postNATDestinationIPv4Address:
      return K_POST_DST4;
    case IE.postNATSourceIPv6Address:
      return K_POST_SRC6;
    case IE.postNATDestinationIPv6Address:
      return K_POST_DST6;
    case IE.octetDeltaCount:
      return S_DELTA_BYTES;
    case IE.packetDeltaCount:
      return S_DELTA_PACKETS;
    case IE.octetTotalCount:
      return S_TOTAL_BYTES;
    case IE.packetTotalCount:
      return S_TOTAL_PACKETS;
    case IE.initiatorOctets:
      return S_INIT_BYTES;
    case IE.responderOctets:
      return S_RESP_BYTES;
    case IE.initiatorPackets:
      return S_INIT_PACKETS;
    case IE.responderPackets:
      return S_RESP_PACKETS;
    case IE.protocolIdentifier:
      return S_PROTOCOL;
    case IE.tcpControlBits:
      return S_TCP_FLAGS;
    case IE.sourceTransportPort:
      return S_SRC_PORT;
    case IE.destinationTransportPort:
      return S_DST_PORT;
    case IE.ipVersion:
      return S_IP_VERSION;
    case IE.flowDirection:
      return S_DIRECTION;
    case IE.samplingInterval:
    case IE.samplerRandomInterval:
      return S_SAMPLING;
    case IE.samplingPacketInterval:
      return S_PACKET_INTERVAL;
    case IE.samplingPacketSpace:
      return S_PACKET_SPACE;
    case IE.samplingSize:
      return S_SAMPLE_SIZE;
    case IE.samplingPopulation:
      return S_SAMPLE_POPULATION;
    case IE.samplerId:
    case IE.selectorId:
      return S_SAMPLER_ID;
    case IE.flowStartSysUpTime:
      return S_START_UP;
    case IE.flowEndSysUpTime:
      return S_END_UP;
    case IE.flowStartSeconds:
      return K_START_SECONDS;
    case IE.flowEndSeconds:
      return K_END_SECONDS;
    case IE.flowStartMilliseconds:
      return S_START_MS;
    case IE.flowEndMilliseconds:
      return S_END_MS;
    case IE.flowStartMicroseconds:
    case IE.flowStartNanoseconds:
      return K_START_NTP;
    case IE.flowEndMicroseconds:
    case IE.flowEndNanoseconds:
      return K_END_NTP;
    case IE.flowStartDeltaMicroseconds:
      return S_START_DELTA_US;
    case IE.flowEndDeltaMicroseconds:
      return S_END_DELTA_US;
    case IE.systemInitTimeMilliseconds:
      return S_SYS_INIT_MS;
    case IE.natEvent:
      return S_NAT_EVENT;
    case IE.postNAPTSourceTransportPort:
      return S_POST_SRC_PORT;
    case IE.postNAPTDestinationTransportPort:
      return S_POST_DST_PORT;
    case IE.portRangeStart:
      return S_RANGE_START;
    case IE.portRangeEnd:
      return S_RANGE_END;
    case IE.observationTimeMilliseconds:
      return S_OBS_MS;
    default:
      return K_NONE;
  }
}

/** Whether op `k` reads a field of `len` bytes (otherwise the field is skipped, as it always was). */
export function opTakes(k: number, len: number): boolean {
  if (len === 0 || k === K_NONE) return false;
  if (k < N_STORE) return len <= 8;
  switch (k) {
    case K_SRC4:
    case K_DST4:
    case K_POST_SRC4:
    case K_POST_DST4:
      return len === 4;
    case K_SRC6:
    case K_DST6:
    case K_POST_SRC6:
    case K_POST_DST6:
      return len === 16;
    case K_START_SECONDS:
    case K_END_SECONDS:
      return len <= 8;
    case K_START_NTP:
    case K_END_NTP:
      return len === 8;
    default:
      return false;
  }
}

/**
 * A template compiled once for decoding: what to do with each field, and where.
 *
 * Fixed-length templates (all of NetFlow v9, most of IPFIX) become a list of (op, offset in the
 * record, length) triples holding only the fields the decoder reads, each one known to fit.
 * Templates with variable-length fields keep one (op, declared length) pair per field, walked in
 * order with every length checked against the set.
 */
export interface CompiledTemplate {
  /** Fixed: [op, offset, length]×n for the fields read. Varlen: [op, declared length] per field. */
  ops: Int32Array;
  /** Fixed templates: ops whose result depends on an earlier field of the record need these slots reset per record. */
  resetStart: boolean;
  resetEnd: boolean;
  /**
   * Fixed data templates with both IPv4 addresses and not both IPv6 ones: every record is IPv4, and
   * what each record carries is known here (a slot an op writes is set in every record). Null for
   * other templates, which take the general path.
   */
  plan: EmitPlan | null;
  /**
   * Fixed IPv4 templates whose every value the numeric sink takes is read straight from the record
   * (see {@link FlowLayout}); null when the op walk is needed.
   */
  layout: FlowLayout | null;
}

/** How a record of a {@link FlowLayout} carries its start (or end) time: not at all. */
export const T_NONE = 0;
/** dateTimeMilliseconds, Unix ms. */
export const T_MS = 1;
/** dateTimeSeconds. */
export const T_SECONDS = 2;
/** dateTimeMicroseconds/-Nanoseconds: NTP 64-bit. */
export const T_NTP = 3;
/** sysUpTime-relative ms (v9 header uptime, or the IPFIX domain's system init time). */
export const T_UPTIME = 4;
/** flowStart/EndDeltaMicroseconds: µs before the export time. */
export const T_DELTA_US = 5;

/**
 * A fixed IPv4 data template laid out for the numeric sink: where in a record each value lies,
 * so a record is read field by field without the op walk or the scratch. Only templates that make
 * this exact get one: each value the sink reads written by at most one field, no sampling element
 * (the interval is the domain's), no system init or observation time in the record. What
 * time source (`T_*`) each time takes follows the walk's precedence (absolute, then
 * sysUpTime-relative, then export-relative).
 */
export interface FlowLayout {
  src4: number;
  dst4: number;
  /** [offset, length] per value, offset -1 when absent (then 0): see the `L_*` indices. */
  at: Int32Array;
  start: number;
  end: number;
}

/** Indices into {@link FlowLayout.at} (each an offset; the length follows it). */
export const L_SRC_PORT = 0;
export const L_DST_PORT = 2;
export const L_PROTOCOL = 4;
export const L_TCP_FLAGS = 6;
export const L_PACKETS = 8;
export const L_BYTES = 10;
export const L_REV_PACKETS = 12;
export const L_REV_BYTES = 14;
export const L_START = 16;
export const L_END = 18;
const L_SIZE = 20;

/** Slots the numeric sink reads, directly or through the time and sampling rules. */
const NUMERIC_SLOTS = [
  S_SRC4, S_DST4, S_SRC_PORT, S_DST_PORT, S_PROTOCOL, S_TCP_FLAGS,
  S_DELTA_PACKETS, S_TOTAL_PACKETS, S_INIT_PACKETS, S_DELTA_BYTES, S_TOTAL_BYTES, S_INIT_BYTES,
  S_REV_DELTA_PACKETS, S_REV_TOTAL_PACKETS, S_RESP_PACKETS, S_REV_DELTA_BYTES, S_REV_TOTAL_BYTES, S_RESP_BYTES,
  S_START_MS, S_END_MS, S_START_UP, S_END_UP, S_START_DELTA_US, S_END_DELTA_US,
];

/** The {@link FlowLayout} of fixed ops `ops` ([op, offset, length]×n) with plan `plan`, or null. */
function flowLayout(ops: readonly number[], plan: EmitPlan): FlowLayout | null {
  if (!plan.domainSampling) return null;
  const where = new Map<number, { k: number; off: number; len: number; n: number }>();
  for (let i = 0; i < ops.length; i += 3) {
    const slot = slotOf(ops[i]!);
    const w = where.get(slot);
    if (w) w.n++;
    else where.set(slot, { k: ops[i]!, off: ops[i + 1]!, len: ops[i + 2]!, n: 1 });
  }
  if (where.has(S_SYS_INIT_MS) || where.has(S_OBS_MS)) return null;
  for (const s of NUMERIC_SLOTS) if ((where.get(s)?.n ?? 0) > 1) return null;
  const src = where.get(S_SRC4);
  const dst = where.get(S_DST4);
  if (!src || !dst) return null;
  const at = new Int32Array(L_SIZE).fill(-1);
  const put = (l: number, slot: number): void => {
    const w = where.get(slot);
    if (w) {
      at[l] = w.off;
      at[l + 1] = w.len;
    }
  };
  put(L_SRC_PORT, S_SRC_PORT);
  put(L_DST_PORT, S_DST_PORT);
  put(L_PROTOCOL, S_PROTOCOL);
  put(L_TCP_FLAGS, S_TCP_FLAGS);
  if (plan.packets !== S_ZERO) put(L_PACKETS, plan.packets);
  if (plan.bytes !== S_ZERO) put(L_BYTES, plan.bytes);
  if (plan.reversePackets !== S_ZERO) put(L_REV_PACKETS, plan.reversePackets);
  if (plan.reverseBytes !== S_ZERO) put(L_REV_BYTES, plan.reverseBytes);
  const time = (l: number, abs: number, up: number, delta: number, seconds: number, ntp: number): number => {
    const a = where.get(abs);
    if (a) {
      put(l, abs);
      return a.k === seconds ? T_SECONDS : a.k === ntp ? T_NTP : T_MS;
    }
    if (where.has(up)) {
      put(l, up);
      return T_UPTIME;
    }
    if (where.has(delta)) {
      put(l, delta);
      return T_DELTA_US;
    }
    return T_NONE;
  };
  const start = time(L_START, S_START_MS, S_START_UP, S_START_DELTA_US, K_START_SECONDS, K_START_NTP);
  const end = time(L_END, S_END_MS, S_END_UP, S_END_DELTA_US, K_END_SECONDS, K_END_NTP);
  return { src4: src.off, dst4: dst.off, at, start, end };
}

/** Where a fixed IPv4 template's counters are: the first slot it writes of each list, else {@link S_ZERO}. */
export interface EmitPlan {
  packets: number;
  bytes: number;
  reversePackets: number;
  reverseBytes: number;
  /** No sampling element (nor sampler id): the interval comes from the domain's options data. */
  domainSampling: boolean;
}

/** Slot written by op `k` (special ops write these; store ops their own slot). */
function slotOf(k: number): number {
  if (k < N_STORE) return k;
  switch (k) {
    case K_SRC4:
      return S_SRC4;
    case K_DST4:
      return S_DST4;
    case K_SRC6:
      return S_SRC6_AT;
    case K_DST6:
      return S_DST6_AT;
    case K_START_SECONDS:
    case K_START_NTP:
      return S_START_MS;
    case K_END_SECONDS:
    case K_END_NTP:
      return S_END_MS;
    default:
      return -1;
  }
}

export function compileTemplate(t: Template): CompiledTemplate {
  const ops: number[] = [];
  let resetStart = false;
  let resetEnd = false;
  let off = 0;
  const written = new Set<number>();
  for (let i = 0; i < t.fields.length; i++) {
    const f = t.fields[i]!;
    // v9 options scope fields are scope types (system, interface …), not elements.
    const k = t.version === 9 && i < t.scopeCount ? K_NONE : fieldOp(f);
    if (t.varlen) {
      ops.push(k, f.length);
      continue;
    }
    if (opTakes(k, f.length)) {
      ops.push(k, off, f.length);
      written.add(slotOf(k));
      if (k === K_START_SECONDS) resetStart = true;
      if (k === K_END_SECONDS) resetEnd = true;
    }
    off += f.length;
  }
  let plan: EmitPlan | null = null;
  if (!t.varlen && !t.options && written.has(S_SRC4) && written.has(S_DST4) && !(written.has(S_SRC6_AT) && written.has(S_DST6_AT))) {
    const first = (slots: number[]): number => slots.find((s) => written.has(s)) ?? S_ZERO;
    plan = {
      packets: first([S_DELTA_PACKETS, S_TOTAL_PACKETS, S_INIT_PACKETS]),
      bytes: first([S_DELTA_BYTES, S_TOTAL_BYTES, S_INIT_BYTES]),
      reversePackets: first([S_REV_DELTA_PACKETS, S_REV_TOTAL_PACKETS, S_RESP_PACKETS]),
      reverseBytes: first([S_REV_DELTA_BYTES, S_REV_TOTAL_BYTES, S_RESP_BYTES]),
      domainSampling: ![S_SAMPLING, S_SAMPLE_SIZE, S_SAMPLE_POPULATION, S_PACKET_INTERVAL, S_SAMPLER_ID].some((s) => written.has(s)),
    };
  }
  return { ops: Int32Array.from(ops), resetStart, resetEnd, plan, layout: plan === null ? null : flowLayout(ops, plan) };
}
