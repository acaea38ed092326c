/**
 * decodeDns, decodeDnsOverTcp, datagramEnd and formatIpv6 on DNS messages built byte by byte
 * here: plain and compressed names, A/AAAA/CNAME answers, every truncation point, pointer loops,
 * oversized labels and names, lying counts and lengths, seeded random input, and (when tshark is
 * installed) a cross-check of the decoded fields against Wireshark's dissector.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  MAX_ANSWERS,
  MAX_POINTER_JUMPS,
  MAX_QUESTIONS,
  decodeDns,
  decodeDnsOverTcp,
  datagramEnd,
  formatIpv6,
  type DnsMessage,
} from '../../src/decode/dns.js';
import { DecodeError } from '../../src/errors.js';
import { LinkType, ethernet, ipv4, pcapFile, udp, IpProto } from '../support/builders.js';
import { mulberry32 } from '../support/random.js';
import { decodeError } from '../helpers.js';

type Bytes = Uint8Array | number[];

function cat(...parts: Bytes[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** Labels of `name` in wire form; ends with the root byte unless `pointer` (an offset) is given. */
function name(text: string, pointer?: number): Uint8Array {
  const labels = text === '' ? [] : text.split('.');
  const parts: Bytes[] = labels.map((l) => [l.length, ...ascii(l)]);
  parts.push(pointer === undefined ? [0] : ptr(pointer));
  return cat(...parts);
}

/** A compression pointer to `offset` (from the start of the message). */
const ptr = (offset: number): number[] => [0xc0 | (offset >> 8), offset & 0xff];

function header(id: number, flags: number, qd: number, an: number, ns = 0, ar = 0): Uint8Array {
  return cat(be16(id), be16(flags), be16(qd), be16(an), be16(ns), be16(ar));
}

const question = (owner: Bytes, type = 1): Uint8Array => cat(owner, be16(type), be16(1));

function rr(owner: Bytes, type: number, ttl: number, rdata: Bytes): Uint8Array {
  return cat(owner, be16(type), be16(1), be32(ttl), be16(rdata.length), rdata);
}

const a = (text: string): number[] => text.split('.').map(Number);
const aaaa = (text: string): number[] => ipaddr.parse(text).toByteArray();

const QUERY = 0x0100;
const RESPONSE = 0x8180;
const NXDOMAIN = 0x8183;

/**
 * A response for pool.Example.COM: a CNAME to eu1.example.com (compressed against the question),
 * an A and an AAAA on the CNAME target (pointers to the CNAME data), and an MX whose data is
 * skipped. Offsets: question name at 12, CNAME rdata at 45.
 */
function sampleResponse(): Uint8Array {
  const q = question(name('pool.Example.COM'), 1); // 12 .. 34
  const cname = rr(ptr(12), 5, 300, name('eu1', 17)); // owner at 34, rdata at 46
  const target = 34 + 12;
  const answers = [
    cname,
    rr(ptr(target), 1, 60, a('203.0.113.7')),
    rr(ptr(target), 28, 0xffffffff, aaaa('2001:DB8::7')),
    rr(ptr(17), 15, 3600, [0, 10, ...name('mx', 17)]),
  ];
  return cat(header(0xbeef, RESPONSE, 1, answers.length), q, ...answers);
}

const SAMPLE_DECODED: DnsMessage = {
  id: 0xbeef,
  response: true,
  rcode: 0,
  questions: [{ name: 'pool.example.com', type: 1 }],
  answers: [
    { name: 'pool.example.com', type: 5, ttl: 300, data: 'eu1.example.com' },
    { name: 'eu1.example.com', type: 1, ttl: 60, data: '203.0.113.7' },
    { name: 'eu1.example.com', type: 28, ttl: 4294967295, data: '2001:db8::7' },
    { name: 'example.com', type: 15, ttl: 3600, data: '' },
  ],
};

/** Place `msg` inside a larger buffer with junk on both sides, so offsets and lengths must be honoured. */
function embedded(msg: Uint8Array, lead = 7, trail = 9): { buf: Uint8Array; off: number } {
  const buf = new Uint8Array(lead + msg.length + trail).fill(0xc0);
  buf.set(msg, lead);
  return { buf, off: lead };
}

const rng = mulberry32;

/** Run `fn`; anything thrown must be a DecodeError with a dotted dns code and an offset inside the buffer. */
function onlyDecodeErrors(fn: () => unknown, bufLength: number): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new Error(`non-DecodeError thrown: ${String(e)}`, { cause: e });
    expect(e.code).toMatch(/^dns\.[a-z_]+$/);
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(bufLength);
  }
}


/** The datagrams `datagramEnd` walks in a stored UDP prefix, as [start, end) of their bytes. */
function datagramsOf(p: Uint8Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let pos = 0, end = datagramEnd(p, 0); end >= 0; pos = end, end = datagramEnd(p, end)) out.push([pos + 2, end]);
  return out;
}
describe('decodeDns', () => {
  it('decodes a query', () => {
    const msg = cat(header(0x1234, QUERY, 1, 0), question(name('XMR.Pool.example.net'), 28));
    expect(decodeDns(msg)).toEqual({
      id: 0x1234,
      response: false,
      rcode: 0,
      questions: [{ name: 'xmr.pool.example.net', type: 28 }],
      answers: [],
    });
  });

  it('decodes CNAME, A, AAAA and skips other data, honouring offset and length', () => {
    const msg = sampleResponse();
    expect(decodeDns(msg)).toEqual(SAMPLE_DECODED);
    const { buf, off } = embedded(msg);
    expect(decodeDns(buf, off, msg.length)).toEqual(SAMPLE_DECODED);
  });

  it('reads the rcode and the root name, and stops before the authority section', () => {
    const authority = rr([0], 6, 900, [1, 2, 3]);
    const msg = cat(header(7, NXDOMAIN, 1, 0, 1, 0), question([0], 2), authority);
    const d = decodeDns(msg);
    expect(d.rcode).toBe(3);
    expect(d.questions).toEqual([{ name: '', type: 2 }]);
    // Junk after the answers (an authority section cut short) is not read.
    expect(decodeDns(msg, 0, msg.length - 3).questions).toEqual([{ name: '', type: 2 }]);
  });

  it('follows chains of compression pointers', () => {
    const q = question(name('c.example.org'), 1); // name at 12: c(12) example(14) org(22)
    const a1 = rr(name('b', 12), 1, 1, a('10.0.0.1')); // b.c.example.org, owner at 31
    const a2 = rr(name('a', 31), 1, 1, a('10.0.0.2')); // a → b → c.example.org
    const a3 = rr(ptr(22), 5, 1, name('x', 14)); // org → x.example.org
    const d = decodeDns(cat(header(1, RESPONSE, 1, 3), q, a1, a2, a3));
    expect(d.answers.map((r) => [r.name, r.data])).toEqual([
      ['b.c.example.org', '10.0.0.1'],
      ['a.b.c.example.org', '10.0.0.2'],
      ['org', 'x.example.org'],
    ]);
  });

  it('writes unprintable, dot and backslash label bytes as \\DDD', () => {
    const msg = cat(header(1, QUERY, 1, 0), question(cat([5, 0x41, 0x2e, 0x20, 0x5c, 0xff], [3, ...ascii('com')], [0])));
    expect(decodeDns(msg).questions[0]!.name).toBe('a\\046\\032\\092\\255.com');
  });

  it('accepts a name of exactly 255 bytes and rejects 256', () => {
    const long = (last: number): string => ['x'.repeat(63), 'y'.repeat(63), 'z'.repeat(63), 'w'.repeat(last)].join('.');
    const ok = cat(header(1, QUERY, 1, 0), question(name(long(61))));
    expect(decodeDns(ok).questions[0]!.name).toBe(long(61));
    const bad = cat(header(1, QUERY, 1, 0), question(name(long(62))));
    expect(decodeError(() => decodeDns(bad)).code).toBe('dns.name_too_long');
  });

  it('rejects a name over 255 bytes built from pointers', () => {
    // Each question name is a 63-byte label followed by a pointer to the previous question name:
    // 65, 129, 193 and then 257 bytes in wire form.
    const questions: Uint8Array[] = [];
    let pos = 12;
    let previous = -1;
    for (let i = 0; i < 4; i++) {
      const label = [63, ...ascii(String.fromCharCode(0x61 + i).repeat(63))];
      const qn = question(previous < 0 ? cat(label, [0]) : cat(label, ptr(previous)));
      previous = pos;
      pos += qn.length;
      questions.push(qn);
    }
    expect(decodeDns(cat(header(1, QUERY, 3, 0), ...questions.slice(0, 3))).questions[2]!.name).toHaveLength(63 * 3 + 2);
    const e = decodeError(() => decodeDns(cat(header(1, QUERY, 4, 0), ...questions)));
    expect(e.code).toBe('dns.name_too_long');
  });

  it('rejects label length bytes with the reserved 0b01 and 0b10 prefixes (labels over 63)', () => {
    for (const b of [0x40, 0x7f, 0x80, 0xbf]) {
      const msg = cat(header(1, QUERY, 1, 0), [3, ...ascii('abc'), b, ...new Array<number>(70).fill(0x61), 0], be16(1), be16(1));
      const e = decodeError(() => decodeDns(msg));
      expect(e.code).toBe('dns.bad_label');
      expect(e.offset).toBe(16);
    }
  });

  describe('compression pointer loops', () => {
    it('rejects a pointer to itself', () => {
      const e = decodeError(() => decodeDns(cat(header(1, QUERY, 1, 0), ptr(12), be16(1), be16(1))));
      expect(e.code).toBe('dns.pointer_loop');
      expect(e.offset).toBe(12);
    });

    it('rejects a forward pointer', () => {
      const msg = cat(header(1, QUERY, 1, 0), name('a', 20), be16(1), be16(1), name('example.com'));
      expect(decodeError(() => decodeDns(msg)).code).toBe('dns.pointer_loop');
    });

    it('rejects a two-pointer cycle (A → B → A)', () => {
      // Question name at 12: "a" then a pointer to the answer's owner at 20, which points back to 12.
      const msg = cat(header(1, RESPONSE, 1, 1), name('a', 20), be16(1), be16(1), rr(ptr(12), 1, 1, a('1.2.3.4')));
      expect(decodeError(() => decodeDns(msg)).code).toBe('dns.pointer_loop');
      // The same cycle reached from the answer first.
      const msg2 = cat(header(1, RESPONSE, 0, 1), rr(ptr(12), 1, 1, a('1.2.3.4')));
      expect(decodeError(() => decodeDns(msg2)).code).toBe('dns.pointer_loop');
    });

    it('stops a cycle of backward pointers through overlapping labels after the jump limit', () => {
      // 12: label of 2 bytes whose content is a pointer to 12; 15: pointer to 12 (backwards, legal).
      const msg = cat(header(1, QUERY, 1, 0), [2, ...ptr(12), ...ptr(12)], be16(1), be16(1));
      const e = decodeError(() => decodeDns(msg));
      expect(e.code).toBe('dns.pointer_loop');
      expect(e.message).toContain(String(MAX_POINTER_JUMPS));
    });

    it(`follows up to ${MAX_POINTER_JUMPS} pointers in one name`, () => {
      // The answer owner is a pointer into a chain of pointers kept in a TXT record's data (skipped
      // as data), ending at the question's root name at 12.
      const withJumps = (jumps: number): Uint8Array => {
        const q = question([0], 1); // 12..17
        const links: number[] = [];
        let prev = 12; // the root name of the question
        const txtData = 12 + q.length + 1 + 10; // TXT owner is the root byte, then the fixed fields
        let at = txtData;
        for (let i = 0; i < jumps - 1; i++) {
          links.push(...ptr(prev));
          prev = at;
          at += 2;
        }
        const txt = rr([0], 16, 1, links);
        const answer = rr(ptr(prev), 1, 1, a('9.9.9.9'));
        return cat(header(1, RESPONSE, 1, 2), q, txt, answer);
      };
      expect(decodeDns(withJumps(MAX_POINTER_JUMPS)).answers[1]!.data).toBe('9.9.9.9');
      expect(decodeError(() => decodeDns(withJumps(MAX_POINTER_JUMPS + 1))).code).toBe('dns.pointer_loop');
    });
  });

  it('throws dns.truncated at every cut point of a valid message, reading nothing past the length', () => {
    const msg = sampleResponse();
    const { buf, off } = embedded(msg);
    for (let cut = 0; cut < msg.length; cut++) {
      const e = decodeError(() => decodeDns(buf, off, cut));
      expect(e.code, `cut at ${cut}`).toBe('dns.truncated');
      expect(e.offset).toBeGreaterThanOrEqual(off);
      expect(e.offset).toBeLessThanOrEqual(off + cut);
    }
    expect(decodeDns(buf, off, msg.length)).toEqual(SAMPLE_DECODED);
  });

  it('rejects counts that cannot be true before allocating for them', () => {
    const lying = cat(header(1, RESPONSE, 0xffff, 0xffff, 0xffff, 0xffff), [0, 0, 1, 0, 1, 0, 0, 0]);
    expect(lying.length).toBe(20);
    expect(decodeError(() => decodeDns(lying)).code).toBe('dns.too_many_records');
    const manyAnswers = cat(header(1, RESPONSE, 1, 0xffff), [0, 0, 1, 0, 1, 0, 0, 0]);
    expect(decodeError(() => decodeDns(manyAnswers)).code).toBe('dns.too_many_records');
    const withinCaps = cat(header(1, RESPONSE, MAX_QUESTIONS, MAX_ANSWERS), [0, 0, 1, 0, 1, 0, 0, 0]);
    const e = decodeError(() => decodeDns(withinCaps));
    expect(e.code).toBe('dns.truncated');
    expect(e.offset).toBe(4);
  });

  it(`accepts ${MAX_QUESTIONS} questions and ${MAX_ANSWERS} answers, not one more`, () => {
    const q = question(name('a.b'));
    const ans = rr(ptr(12), 1, 1, a('1.1.1.1'));
    const build = (nq: number, na: number): Uint8Array =>
      cat(header(1, RESPONSE, nq, na), ...new Array<Uint8Array>(nq).fill(q), ...new Array<Uint8Array>(na).fill(ans));
    const d = decodeDns(build(MAX_QUESTIONS, MAX_ANSWERS));
    expect(d.questions).toHaveLength(MAX_QUESTIONS);
    expect(d.answers).toHaveLength(MAX_ANSWERS);
    expect(decodeError(() => decodeDns(build(MAX_QUESTIONS + 1, 1))).code).toBe('dns.too_many_records');
    expect(decodeError(() => decodeDns(build(1, MAX_ANSWERS + 1))).code).toBe('dns.too_many_records');
  });

  it('rejects an rdlength beyond the end and record data of the wrong size', () => {
    const q = question(name('x.example'));
    const beyond = cat(header(1, RESPONSE, 1, 1), q, ptr(12), be16(16), be16(1), be32(1), be16(0xfff0), [1, 2, 3]);
    const e = decodeError(() => decodeDns(beyond));
    expect(e.code).toBe('dns.truncated');
    expect(e.message).toContain('65520');
    expect(decodeError(() => decodeDns(cat(header(1, RESPONSE, 1, 1), q, rr(ptr(12), 1, 1, [1, 2, 3, 4, 5])))).code).toBe('dns.bad_rdata');
    expect(decodeError(() => decodeDns(cat(header(1, RESPONSE, 1, 1), q, rr(ptr(12), 28, 1, [1, 2, 3, 4])))).code).toBe('dns.bad_rdata');
    // CNAME whose name does not fill its data, and one whose name runs past its data.
    expect(decodeError(() => decodeDns(cat(header(1, RESPONSE, 1, 1), q, rr(ptr(12), 5, 1, [...name('a'), 9])))).code).toBe('dns.bad_rdata');
    const overrun = cat(header(1, RESPONSE, 1, 1), q, ptr(12), be16(5), be16(1), be32(1), be16(2), name('abc'));
    expect(decodeError(() => decodeDns(overrun)).code).toBe('dns.truncated');
  });

  it('rejects a buffer shorter than the header', () => {
    expect(decodeError(() => decodeDns(new Uint8Array(0))).code).toBe('dns.truncated');
    expect(decodeError(() => decodeDns(new Uint8Array(11))).code).toBe('dns.truncated');
    expect(decodeDns(new Uint8Array(12))).toEqual({ id: 0, response: false, rcode: 0, questions: [], answers: [] });
  });

  it('only ever throws DecodeError on 1000 seeded random byte strings and mutations', () => {
    const next = rng(0x5eed);
    const valid = sampleResponse();
    for (let i = 0; i < 1000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = new Uint8Array(Math.floor(next() * 120));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256);
        // Small counts so the records are actually walked.
        if (bytes.length >= 12 && i % 4 === 0) {
          bytes[4] = 0;
          bytes[5] = Math.floor(next() * 4);
          bytes[6] = 0;
          bytes[7] = Math.floor(next() * 6);
        }
      } else {
        bytes = valid.slice(0, Math.floor(next() * (valid.length + 1)));
        const flips = 1 + Math.floor(next() * 4);
        for (let k = 0; k < flips && bytes.length > 0; k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      }
      onlyDecodeErrors(() => decodeDns(bytes), bytes.length);
      onlyDecodeErrors(() => decodeDnsOverTcp(bytes), bytes.length);
      expect(datagramsOf(bytes).reduce((n, [s, e]) => n + e - s + 2, 0)).toBeLessThanOrEqual(bytes.length);
    }
  });
});

describe('decodeDnsOverTcp', () => {
  const framed = (msg: Uint8Array): Uint8Array => cat(be16(msg.length), msg);
  const query = cat(header(0x0a0a, QUERY, 1, 0), question(name('Pool.Example.COM')));

  it('decodes two messages and ignores a third cut short', () => {
    const third = framed(sampleResponse());
    const stream = cat(framed(query), framed(sampleResponse()), third.subarray(0, 30));
    const { buf, off } = embedded(stream);
    const msgs = decodeDnsOverTcp(buf, off, stream.length);
    expect(msgs).toHaveLength(2);
    expect(msgs[0]!.questions).toEqual([{ name: 'pool.example.com', type: 1 }]);
    expect(msgs[1]).toEqual(SAMPLE_DECODED);
    // Cut inside the length prefix, and at every point: never more messages than are complete.
    for (let cut = 0; cut <= stream.length; cut++) {
      const n = decodeDnsOverTcp(buf, off, cut).length;
      expect(n).toBe(cut >= 2 + query.length + third.length ? 2 : cut >= 2 + query.length ? 1 : 0);
    }
  });

  it('throws for a complete message that is malformed', () => {
    const bad = cat(header(1, QUERY, 1, 0), ptr(12), be16(1), be16(1));
    expect(decodeError(() => decodeDnsOverTcp(cat(framed(query), framed(bad)))).code).toBe('dns.pointer_loop');
    expect(decodeError(() => decodeDnsOverTcp(cat(framed(new Uint8Array(0))))).code).toBe('dns.truncated');
  });

  it('returns nothing for empty input', () => {
    expect(decodeDnsOverTcp(new Uint8Array(0))).toEqual([]);
    expect(decodeDnsOverTcp(new Uint8Array([0]))).toEqual([]);
  });
});

describe('datagramEnd', () => {
  it('walks length-prefixed datagrams and stops at a final partial one', () => {
    const prefix = cat([0, 3, 1, 2, 3], [0, 0], [0, 1, 9], [0, 5, 1, 2]);
    expect([datagramEnd(prefix, 0), datagramEnd(prefix, 5), datagramEnd(prefix, 7), datagramEnd(prefix, 10)]).toEqual([5, 7, 10, -1]);
    expect(datagramsOf(prefix).map(([s, e]) => [...prefix.subarray(s, e)])).toEqual([[1, 2, 3], [], [9]]);
    expect(datagramsOf(new Uint8Array([0]))).toEqual([]);
    expect(datagramsOf(new Uint8Array(0))).toEqual([]);
    expect(datagramsOf(new Uint8Array([0xff, 0xff, 1]))).toEqual([]);
    // One that ends where the prefix ends is whole.
    expect(datagramsOf(new Uint8Array([0, 2, 7, 8]))).toEqual([[2, 4]]);
    // Within a view into a larger buffer: offsets are the view's.
    const { buf, off } = embedded(prefix);
    expect(datagramsOf(buf.subarray(off, off + prefix.length))).toEqual([[2, 5], [7, 7], [9, 10]]);
  });

  it('feeds decodeDns', () => {
    const q = cat(header(5, QUERY, 1, 0), question(name('a.example')));
    const r = sampleResponse();
    const prefix = cat(be16(q.length), q, be16(r.length), r, be16(100), [1, 2]);
    expect(datagramsOf(prefix).map(([s, e]) => decodeDns(prefix, s, e - s).id)).toEqual([5, 0xbeef]);
  });
});

describe('formatIpv6', () => {
  const f = (text: string): string => formatIpv6(new Uint8Array(aaaa(text)));

  it('follows RFC 5952', () => {
    expect(f('0:0:0:0:0:0:0:0')).toBe('::');
    expect(f('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(f('1:0:0:0:0:0:0:0')).toBe('1::');
    expect(f('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(f('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // one zero group is not compressed
    expect(f('1:0:0:2:0:0:3:4')).toBe('1::2:0:0:3:4'); // tie: the first run
    expect(f('1:0:2:0:0:0:3:4')).toBe('1:0:2::3:4'); // the longest run
    expect(f('2001:0db8:00ab:0c00:0000:0000:000d:00e0')).toBe('2001:db8:ab:c00::d:e0');
    expect(f('fe80::1:0:0:0')).toBe('fe80::1:0:0:0');
    expect(formatIpv6(cat([9, 9], aaaa('::2')), 2)).toBe('::2');
  });

  it('matches ipaddr.js on seeded random addresses with zero runs', () => {
    const next = rng(1952);
    for (let i = 0; i < 2000; i++) {
      const bytes = new Uint8Array(16);
      for (let g = 0; g < 8; g++) {
        if (next() < 0.5) continue;
        const v = next() < 0.3 ? Math.floor(next() * 16) : Math.floor(next() * 65536);
        bytes[2 * g] = v >> 8;
        bytes[2 * g + 1] = v & 0xff;
      }
      expect(formatIpv6(bytes)).toBe(new ipaddr.IPv6([...bytes]).toRFC5952String());
    }
  });
});

const TSHARK = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!TSHARK)('cross-check with tshark', () => {
  it('decodes the same names, addresses and targets as Wireshark', () => {
    const messages = [
      sampleResponse(),
      cat(header(0x1234, QUERY, 1, 0), question(name('XMR.Pool.example.net'), 28)),
      cat(
        header(0x4321, RESPONSE, 1, 3),
        question(name('c.example.org')),
        rr(name('b', 12), 1, 1, a('10.0.0.1')),
        rr(ptr(12), 28, 5, aaaa('fe80::1:0:0:0')),
        rr(ptr(12), 28, 5, aaaa('1:0:0:2:0:0:3:4')),
      ),
    ];
    const frames = messages.map((m, i) => ({
      ts: 1_700_000_000_000 + i,
      data: ethernet(ipv4('192.0.2.1', '192.0.2.53', IpProto.UDP, udp(40000 + i, 53, m))),
    }));
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-dns-'));
    try {
      const file = join(dir, 'dns.pcap');
      writeFileSync(file, pcapFile(LinkType.ETHERNET, frames));
      const fields = ['dns.id', 'dns.qry.name', 'dns.resp.name', 'dns.a', 'dns.aaaa', 'dns.cname'];
      const args = ['-n', '-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])];
      const out = spawnSync('tshark', args, { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      const rows = out.stdout.trimEnd().split('\n').map((line) => line.split('\t'));
      expect(rows).toHaveLength(messages.length);
      messages.forEach((m, i) => {
        const d = decodeDns(m);
        const [id, qname, rname, as, aaaas, cnames] = rows[i]!;
        const list = (s: string | undefined): string[] => (s ? s.split(',') : []);
        const ofType = (t: number): string[] => d.answers.filter((r) => r.type === t).map((r) => r.data);
        expect(Number(id)).toBe(d.id);
        expect(list(qname).map((s) => s.toLowerCase())).toEqual(d.questions.map((q) => q.name));
        expect(list(rname).map((s) => s.toLowerCase())).toEqual(d.answers.map((r) => r.name));
        expect(list(as)).toEqual(ofType(1));
        expect(list(aaaas)).toEqual(ofType(28));
        expect(list(cnames).map((s) => s.toLowerCase())).toEqual(ofType(5));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
