/**
 * The dnstap reader reads each frame's fields in place (readDnstapFields) instead of decoding the
 * whole message with protobufjs. Differential test against protobufjs' own decoder of the same
 * schema: on encoded frames with every field (and unknown ones, repeats, a policy) and on the same
 * frames damaged at random (bytes changed, cut short, grown), both must agree on whether the frame
 * is a message at all, and on every field a lookup reads.
 */
import protobuf from 'protobufjs/light.js';
import { describe, expect, it } from 'vitest';
import { dnstapType, readDnstapFields } from '../../src/io/dnstap.js';
import { mulberry32 } from '../support/random.js';

type Fields = Parameters<typeof readDnstapFields>[3];

/** What protobufjs' decoder says a frame holds, in the terms the reader uses (null: not a message). */
function byProtobufjs(frame: Uint8Array): Record<string, unknown> | null {
  let d: Record<string, unknown> & { message?: Record<string, unknown> | null };
  try {
    d = dnstapType().decode(frame) as unknown as typeof d;
  } catch {
    return null;
  }
  const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
  const bytes = (o: object | null | undefined, k: string): number[] | null => (o && own(o, k) ? [...((o as Record<string, Uint8Array>)[k]!)] : null);
  const num = (v: unknown): number => (typeof v === 'number' ? v : protobuf.util.LongBits.from(v as number).toNumber(true));
  const m = d.message ?? null;
  return {
    type: d.type,
    hasMessage: m !== null && own(d, 'message'),
    identity: bytes(d, 'identity'),
    messageType: m ? m.type : null,
    queryAddress: bytes(m, 'queryAddress'),
    responseAddress: bytes(m, 'responseAddress'),
    queryTimeSec: m && own(m, 'queryTimeSec') ? num(m.queryTimeSec) : -1,
    queryTimeNsec: m && own(m, 'queryTimeNsec') ? m.queryTimeNsec : 0,
    responseTimeSec: m && own(m, 'responseTimeSec') ? num(m.responseTimeSec) : -1,
    responseTimeNsec: m && own(m, 'responseTimeNsec') ? m.responseTimeNsec : 0,
    responseMessage: bytes(m, 'responseMessage'),
  };
}

/** The same, from readDnstapFields over the frame placed at an offset in a larger buffer. */
function byFields(frame: Uint8Array): Record<string, unknown> | null {
  const buf = new Uint8Array(frame.length + 10);
  buf.set(frame, 7);
  const f = {} as Fields;
  try {
    readDnstapFields(buf, 7, frame.length, f);
  } catch {
    return null;
  }
  const slice = (off: number, len: number): number[] | null => (len < 0 ? null : [...buf.subarray(off, off + len)]);
  return {
    type: f.type,
    hasMessage: f.hasMessage,
    identity: slice(f.identityOff, f.identityLen),
    messageType: f.hasMessage ? f.messageType : null,
    queryAddress: f.hasMessage ? slice(f.queryAddressOff, f.queryAddressLen) : null,
    responseAddress: f.hasMessage ? slice(f.responseAddressOff, f.responseAddressLen) : null,
    queryTimeSec: f.hasMessage ? f.queryTimeSec : -1,
    queryTimeNsec: f.hasMessage ? f.queryTimeNsec : 0,
    responseTimeSec: f.hasMessage ? f.responseTimeSec : -1,
    responseTimeNsec: f.hasMessage ? f.responseTimeNsec : 0,
    responseMessage: f.hasMessage ? slice(f.responseMessageOff, f.responseMessageLen) : null,
  };
}

const Policy = dnstapType().root.lookupType('dnstap.Policy');

/** A frame with a random choice of fields (each present or not), sometimes with extras protobufjs skips. */
function frame(rnd: () => number): Uint8Array {
  const pick = (p: number): boolean => rnd() < p;
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  const message: Record<string, unknown> = { type: 1 + Math.floor(rnd() * 14) };
  if (pick(0.8)) message.socketFamily = 1 + Math.floor(rnd() * 2);
  if (pick(0.8)) message.queryAddress = bytes(pick(0.7) ? 4 : pick(0.5) ? 16 : Math.floor(rnd() * 20));
  if (pick(0.6)) message.responseAddress = bytes(pick(0.5) ? 4 : 16);
  if (pick(0.5)) message.queryPort = Math.floor(rnd() * 65536);
  if (pick(0.7)) message.queryTimeSec = Math.floor(rnd() * 2 ** 40);
  if (pick(0.7)) message.queryTimeNsec = Math.floor(rnd() * 1e9);
  if (pick(0.7)) message.responseTimeSec = pick(0.1) ? 2 ** 53 - 1 : Math.floor(rnd() * 2 ** 34);
  if (pick(0.7)) message.responseTimeNsec = Math.floor(rnd() * 1e9);
  if (pick(0.3)) message.queryMessage = bytes(Math.floor(rnd() * 40));
  if (pick(0.8)) message.responseMessage = bytes(Math.floor(rnd() * 80));
  if (pick(0.1)) message.policy = Policy.create({ type: 'rpz', rule: bytes(5), action: 1, match: 2, value: bytes(3) });
  if (pick(0.1)) message.httpProtocol = 2;
  const top: Record<string, unknown> = { type: 1, message };
  if (pick(0.5)) top.identity = bytes(Math.floor(rnd() * 12));
  if (pick(0.2)) top.version = bytes(4);
  let out = dnstapType().encode(dnstapType().create(top)).finish();
  // A field the schema does not know (number 20, length-delimited), and a field written twice.
  if (pick(0.2)) out = Uint8Array.from([...out, 0xa2, 0x01, 2, 9, 9]);
  if (pick(0.2)) out = Uint8Array.from([...out, ...dnstapType().encode(dnstapType().create({ type: 1, identity: bytes(3) })).finish()]);
  return out;
}

function damage(f: Uint8Array, rnd: () => number): Uint8Array {
  const b = Uint8Array.from(f);
  switch (Math.floor(rnd() * 3)) {
    case 0:
      for (let i = 1 + Math.floor(rnd() * 3); i > 0 && b.length; i--) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      return b;
    case 1:
      return b.subarray(0, Math.floor(rnd() * b.length));
    default:
      return Uint8Array.from([...b, ...Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => Math.floor(rnd() * 256))]);
  }
}

describe('dnstap fields read in place', () => {
  it('agree with protobufjs on 20,000 encoded frames and 20,000 damaged ones', () => {
    const rnd = mulberry32(0xd5);
    let messages = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const f = frame(rnd);
      const want = byProtobufjs(f);
      expect(want).not.toBeNull();
      expect(byFields(f), `frame ${i}`).toEqual(want);
      const bad = damage(f, rnd);
      const wantBad = byProtobufjs(bad);
      expect(byFields(bad), `damaged frame ${i}: ${Buffer.from(bad).toString('hex')}`).toEqual(wantBad);
      if (wantBad === null) refused++;
      else messages++;
    }
    // Both outcomes were exercised.
    expect(refused).toBeGreaterThan(2_000);
    expect(messages).toBeGreaterThan(2_000);
  });

  it("refuses a frame without the required type, as protobufjs does", () => {
    // identity (field 1) only.
    const noType = Uint8Array.from([0x0a, 0x01, 0x01]);
    expect(byProtobufjs(noType)).toBeNull();
    expect(byFields(noType)).toBeNull();
    // type MESSAGE (field 15), and a message (field 14) holding only a query address (field 4).
    const messageWithoutType = Uint8Array.from([0x78, 0x01, 0x72, 0x03, 0x22, 0x01, 0x05]);
    expect(byProtobufjs(messageWithoutType)).toBeNull();
    expect(byFields(messageWithoutType)).toBeNull();
  });
});
