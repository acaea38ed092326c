/**
 * decodeClientHello and looksLikeTls on ClientHellos built byte by byte here: SNI, ALPN and GREASE,
 * one record or many (down to one byte each), every truncation point, other TLS messages and
 * plain text, lengths that overrun their structure, the reassembly limit, seeded random input,
 * and (when tshark is installed) a cross-check against Wireshark's dissector.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_ALPN_PROTOCOLS, MAX_EXTENSIONS, MAX_HANDSHAKE_BYTES, decodeClientHello, looksLikeTls, type ClientHello } from '../../src/decode/tls.js';
import { DecodeError } from '../../src/errors.js';
import { IpProto, LinkType, TcpFlag, ethernet, ipv4, pcapFile, tcp } from '../support/builders.js';
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
const be24 = (n: number): number[] => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

const ext = (type: number, data: Bytes): Uint8Array => cat(be16(type), be16(data.length), data);

/** server_name extension with one host_name entry (or the given raw entries). */
function sniExt(host: string | Uint8Array, entries?: Uint8Array): Uint8Array {
  const list = entries ?? cat([0], be16(host.length), typeof host === 'string' ? ascii(host) : host);
  return ext(0, cat(be16(list.length), list));
}

function alpnExt(protocols: string[]): Uint8Array {
  const list = cat(...protocols.map((p) => [p.length, ...ascii(p)]));
  return ext(16, cat(be16(list.length), list));
}

const GREASE_SUITE = 0x1a1a;
const SUITES = [GREASE_SUITE, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xcca9];

interface HelloSpec {
  extensions?: Uint8Array[];
  suites?: number[];
  sessionId?: number;
  version?: number;
}

/** The default extension list: GREASE, SNI, supported_versions, ALPN, key_share stub, GREASE. */
function defaultExtensions(host = 'Pool.Example.COM'): Uint8Array[] {
  return [
    ext(0x0a0a, []),
    sniExt(host),
    ext(43, [4, 0x03, 0x04, 0x03, 0x03]),
    alpnExt(['h2', 'http/1.1']),
    ext(51, cat(be16(6), be16(0x001d), be16(2), [0xab, 0xcd])),
    ext(0xfafa, [0]),
  ];
}

/** A ClientHello handshake message (type 1, 24-bit length, body). */
function clientHello(spec: HelloSpec = {}): Uint8Array {
  const suites = spec.suites ?? SUITES;
  const sid = spec.sessionId ?? 32;
  const exts = cat(...(spec.extensions ?? defaultExtensions()));
  const body = cat(
    be16(spec.version ?? 0x0303),
    new Array<number>(32).fill(0x11),
    [sid],
    new Array<number>(sid).fill(0x22),
    be16(suites.length * 2),
    suites.flatMap(be16),
    [1, 0],
    be16(exts.length),
    exts,
  );
  return cat([1], be24(body.length), body);
}

/** Wrap a handshake message in records carrying `sizes` bytes each (the rest in a last record). */
function records(hs: Uint8Array, sizes: number[] = [], version = 0x0301): Uint8Array {
  const parts: Bytes[] = [];
  let at = 0;
  for (const size of [...sizes, hs.length]) {
    if (at >= hs.length) break;
    const chunk = hs.subarray(at, Math.min(hs.length, at + size));
    parts.push([22], be16(version), be16(chunk.length), chunk);
    at += chunk.length;
  }
  return cat(...parts);
}

/** Handshake bytes present when a record stream is cut after `cut` bytes. */
function handshakeBytesBefore(stream: Uint8Array, cut: number): number {
  let pos = 0;
  let n = 0;
  while (pos + 5 <= cut) {
    const length = (stream[pos + 3]! << 8) | stream[pos + 4]!;
    n += Math.max(0, Math.min(length, cut - pos - 5));
    pos += 5 + length;
  }
  return n;
}

/** Offset in a handshake message just past the extension of `type`. */
function extensionEnd(hs: Uint8Array, type: number): number {
  let pos = 4 + 2 + 32;
  pos += 1 + hs[pos]!;
  pos += 2 + ((hs[pos]! << 8) | hs[pos + 1]!);
  pos += 1 + hs[pos]!;
  pos += 2;
  while (pos < hs.length) {
    const t = (hs[pos]! << 8) | hs[pos + 1]!;
    const len = (hs[pos + 2]! << 8) | hs[pos + 3]!;
    pos += 4 + len;
    if (t === type) return pos;
  }
  throw new Error(`no extension ${type}`);
}

const EXPECTED: ClientHello = {
  version: 0x0303,
  sni: 'pool.example.com',
  alpn: ['h2', 'http/1.1'],
  cipherSuites: SUITES.length,
  extensions: [0x0a0a, 0, 43, 16, 51, 0xfafa],
};

function embedded(bytes: Uint8Array, lead = 5, trail = 11): { buf: Uint8Array; off: number } {
  const buf = new Uint8Array(lead + bytes.length + trail).fill(0x16);
  buf.set(bytes, lead);
  return { buf, off: lead };
}

const rng = mulberry32;

describe('decodeClientHello', () => {
  it('extracts SNI, ALPN, cipher suite count and extension types with GREASE', () => {
    const stream = records(clientHello());
    expect(decodeClientHello(stream)).toEqual(EXPECTED);
    const { buf, off } = embedded(stream);
    expect(decodeClientHello(buf, off, stream.length)).toEqual(EXPECTED);
  });

  it('reads a ClientHello with no extensions, no SNI, or an empty session id', () => {
    const bare = clientHello({ extensions: [] });
    // Drop the empty extensions block entirely (allowed before TLS 1.2).
    const noBlock = cat([1], be24(bare.length - 4 - 2), bare.subarray(4, bare.length - 2));
    expect(decodeClientHello(records(noBlock))).toEqual({ version: 0x0303, sni: null, alpn: [], cipherSuites: SUITES.length, extensions: [] });
    expect(decodeClientHello(records(bare)).extensions).toEqual([]);
    const noSni = clientHello({ extensions: [alpnExt(['stratum']), ext(43, [2, 3, 4])], sessionId: 0, version: 0x0301 });
    expect(decodeClientHello(records(noSni))).toEqual({
      version: 0x0301,
      sni: null,
      alpn: ['stratum'],
      cipherSuites: SUITES.length,
      extensions: [16, 43],
    });
  });

  it('returns sni null for names that are not host names', () => {
    const sniOf = (host: string | Uint8Array): string | null => decodeClientHello(records(clientHello({ extensions: [sniExt(host)] }))).sni;
    expect(sniOf('xmr-eu1.nanopool.org')).toBe('xmr-eu1.nanopool.org');
    expect(sniOf('_acme.Example.com')).toBe('_acme.example.com');
    expect(sniOf('bad name.com')).toBeNull();
    expect(sniOf('a..b')).toBeNull();
    expect(sniOf('.a')).toBeNull();
    expect(sniOf('example.com.')).toBeNull();
    expect(sniOf('ex\u00e4mple.com')).toBeNull();
    expect(sniOf(new Uint8Array([0x61, 0, 0x62]))).toBeNull();
    expect(sniOf('a'.repeat(255))).toBe('a'.repeat(255));
    expect(sniOf('a'.repeat(256))).toBeNull();
    expect(sniOf('')).toBeNull();
  });

  it('takes the first host_name entry, skipping other name types, and the first server_name extension', () => {
    const entries = cat([7], be16(3), ascii('zzz'), [0], be16(5), ascii('b.com'), [0], be16(5), ascii('c.com'));
    expect(decodeClientHello(records(clientHello({ extensions: [sniExt('', entries)] }))).sni).toBe('b.com');
    const twice = clientHello({ extensions: [sniExt('first.com'), sniExt('second.com')] });
    expect(decodeClientHello(records(twice))).toMatchObject({ sni: 'first.com', extensions: [0, 0] });
    expect(decodeClientHello(records(clientHello({ extensions: [ext(0, [])] }))).sni).toBeNull();
  });

  it('reassembles a ClientHello split across records, down to one byte per record', () => {
    const hs = clientHello();
    for (const sizes of [[1], [2], [3], [4], [5], [40], [hs.length - 1], [10, 20, 30], new Array<number>(hs.length).fill(1)]) {
      const stream = records(hs, sizes, 0x0303);
      expect(decodeClientHello(stream), `records of ${sizes.slice(0, 3).join(',')}`).toEqual(EXPECTED);
    }
    // Bytes after the ClientHello (a following record of another type) are not read.
    const stream = cat(records(hs, [100]), [20, 3, 3, 0, 1, 1], [0xde, 0xad]);
    expect(decodeClientHello(stream)).toEqual(EXPECTED);
  });

  it('returns the fields read or throws tls.truncated at every cut point', () => {
    const hs = clientHello();
    const sniEnd = extensionEnd(hs, 0);
    const alpnEnd = extensionEnd(hs, 16);
    for (const sizes of [[], [60], [3, 50, 7]]) {
      const stream = records(hs, sizes);
      const { buf, off } = embedded(stream);
      for (let cut = 0; cut < stream.length; cut++) {
        const have = handshakeBytesBefore(stream, cut);
        if (have < sniEnd) {
          const e = decodeError(() => decodeClientHello(buf, off, cut));
          expect(e.code, `cut at ${cut} (records ${sizes.join(',')})`).toBe('tls.truncated');
        } else {
          const hello = decodeClientHello(buf, off, cut);
          expect(hello.sni).toBe('pool.example.com');
          expect(hello.cipherSuites).toBe(SUITES.length);
          expect(hello.alpn).toEqual(have >= alpnEnd ? ['h2', 'http/1.1'] : []);
          expect(EXPECTED.extensions.slice(0, hello.extensions.length)).toEqual(hello.extensions);
        }
      }
      expect(decodeClientHello(buf, off, stream.length)).toEqual(EXPECTED);
    }
  });

  it('treats a ClientHello over the reassembly limit like a cut one', () => {
    const padding = ext(21, new Array<number>(20000).fill(0));
    const sniFirst = clientHello({ extensions: [sniExt('big.example'), padding, alpnExt(['h2'])] });
    expect(sniFirst.length).toBeGreaterThan(MAX_HANDSHAKE_BYTES);
    expect(decodeClientHello(records(sniFirst, [16384]))).toEqual({
      version: 0x0303,
      sni: 'big.example',
      alpn: [],
      cipherSuites: SUITES.length,
      extensions: [0],
    });
    const sniLast = clientHello({ extensions: [padding, sniExt('big.example')] });
    const e = decodeError(() => decodeClientHello(records(sniLast, [16384])));
    expect(e.code).toBe('tls.truncated');
    expect(e.message).toContain('reassembly limit');
  });

  it('rejects other TLS messages and other protocols with tls.not_client_hello', () => {
    const serverHello = cat([2], be24(4), [3, 3, 0, 0]);
    const notHello = [
      records(serverHello, [], 0x0303),
      new TextEncoder().encode('GET / HTTP/1.1\r\nHost: pool.example.com\r\n\r\n'),
      new TextEncoder().encode('{"id":1,"method":"mining.subscribe","params":[]}\n'),
      cat([23, 3, 3], be16(5), [1, 2, 3, 4, 5]),
      cat([22, 2, 0], be16(5), [1, 0, 0, 1, 0]),
      cat([22, 3, 5], be16(5), [1, 0, 0, 1, 0]),
      cat([22, 3, 0], be16(5), [1, 0, 0, 1, 0]),
      new Uint8Array([0x80, 0x2e, 0x01, 0x03, 0x01]), // SSLv2-compatible hello
      new Uint8Array([0x47]),
      cat([22, 3, 3, 0, 4, 2]),
    ];
    for (const bytes of notHello) expect(decodeError(() => decodeClientHello(bytes)).code).toBe('tls.not_client_hello');
    // ServerHello whose handshake header arrives in a second record.
    expect(decodeError(() => decodeClientHello(records(serverHello, [1], 0x0303))).code).toBe('tls.not_client_hello');
  });

  it('rejects lengths that overrun their structure', () => {
    const code = (bytes: Uint8Array): string => decodeError(() => decodeClientHello(bytes)).code;
    const hs = clientHello();
    // Record length 0, and over 2^14.
    expect(code(cat([22, 3, 1], be16(0)))).toBe('tls.bad_record');
    expect(code(cat([22, 3, 1], be16(0xffff), hs))).toBe('tls.bad_record');
    expect(code(cat([22, 3, 1], be16(16385), hs))).toBe('tls.bad_record');
    // Handshake length far beyond its content: the extensions block no longer fills the body.
    expect(code(records(cat([1], be24(0xffffff), hs.subarray(4))))).toBe('tls.bad_length');
    // A consistent 16 MiB handshake length with only the fixed fields present: a cut ClientHello.
    expect(code(records(cat([1], be24(0xffffff), hs.subarray(4, 4 + 40))))).toBe('tls.truncated');
    // Handshake length shorter than its content: the extensions block overruns it.
    expect(code(records(cat([1], be24(hs.length - 4 - 10), hs.subarray(4))))).toBe('tls.bad_length');
    const patched = (at: number, ...bytes: number[]): Uint8Array => {
      const copy = hs.slice();
      copy.set(bytes, at);
      return records(copy);
    };
    const sidAt = 4 + 2 + 32;
    const suitesAt = sidAt + 1 + 32;
    const compressionAt = suitesAt + 2 + SUITES.length * 2;
    const extensionsAt = compressionAt + 2;
    expect(code(patched(sidAt, 33))).toBe('tls.bad_length');
    expect(code(patched(sidAt, 0xff))).toBe('tls.bad_length');
    expect(code(patched(suitesAt, 0xff, 0xfe))).toBe('tls.bad_length');
    expect(code(patched(suitesAt, 0, 3))).toBe('tls.bad_length');
    expect(code(patched(suitesAt, 0, 0))).toBe('tls.bad_length');
    expect(code(patched(compressionAt, 0))).toBe('tls.bad_length');
    expect(code(patched(compressionAt, 0xff))).toBe('tls.bad_length');
    expect(code(patched(extensionsAt, 0xff, 0xff))).toBe('tls.bad_length');
    expect(code(patched(extensionsAt + 2 + 2, 0xff, 0xff))).toBe('tls.bad_length'); // first extension's length

    const withExt = (e: Uint8Array): string => code(records(clientHello({ extensions: [e] })));
    expect(withExt(ext(0, cat(be16(0xffff), [0], be16(3), ascii('a.b'))))).toBe('tls.bad_extension');
    expect(withExt(ext(0, cat(be16(6), [0], be16(0xfff0), ascii('a.b'))))).toBe('tls.bad_extension');
    expect(withExt(ext(0, [0]))).toBe('tls.bad_extension');
    expect(withExt(ext(0, cat(be16(2), [0, 0])))).toBe('tls.bad_extension');
    expect(withExt(ext(16, cat(be16(3), [9, ...ascii('h2')])))).toBe('tls.bad_extension');
    expect(withExt(ext(16, cat(be16(3), [0, ...ascii('h2')])))).toBe('tls.bad_extension');
    expect(withExt(ext(16, cat(be16(0), [])))).toBe('tls.bad_extension');
    expect(withExt(ext(16, [2]))).toBe('tls.bad_extension');
    const protocols = (n: number): Uint8Array => alpnExt(new Array<string>(n).fill('x'));
    expect(withExt(protocols(MAX_ALPN_PROTOCOLS + 1))).toBe('tls.bad_extension');
    expect(decodeClientHello(records(clientHello({ extensions: [protocols(MAX_ALPN_PROTOCOLS)] }))).alpn).toHaveLength(MAX_ALPN_PROTOCOLS);
  });

  it(`rejects more than ${MAX_EXTENSIONS} extensions`, () => {
    const many = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => ext(1000 + i, []));
    const hello = (n: number): Uint8Array => records(clientHello({ extensions: many(n) }));
    expect(decodeClientHello(hello(MAX_EXTENSIONS)).extensions).toHaveLength(MAX_EXTENSIONS);
    expect(decodeError(() => decodeClientHello(hello(MAX_EXTENSIONS + 1))).code).toBe('tls.too_many_extensions');
  });

  it('rejects a record that is not a handshake record inside the ClientHello', () => {
    const hs = clientHello();
    const split = records(hs, [50]);
    const bad = split.slice();
    bad[5 + 50] = 23; // second record becomes application data
    expect(decodeError(() => decodeClientHello(bad)).code).toBe('tls.bad_record');
    const badVersion = split.slice();
    badVersion[5 + 50 + 1] = 2;
    expect(decodeError(() => decodeClientHello(badVersion)).code).toBe('tls.bad_record');
    const zero = cat(split.subarray(0, 55), [22, 3, 1, 0, 0]);
    expect(decodeError(() => decodeClientHello(zero)).code).toBe('tls.bad_record');
  });

  it('only ever throws DecodeError on 1000 seeded random byte strings and mutations', () => {
    const next = rng(0x7175);
    const valid = records(clientHello(), [70]);
    const codes = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      let bytes: Uint8Array;
      if (i % 3 === 0) {
        bytes = new Uint8Array(Math.floor(next() * 300));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256);
      } else if (i % 3 === 1) {
        // A plausible record and handshake header, then random bytes.
        const rest = new Uint8Array(Math.floor(next() * 300));
        for (let j = 0; j < rest.length; j++) rest[j] = Math.floor(next() * 256);
        bytes = cat([22, 3, 1 + Math.floor(next() * 4)], be16(Math.floor(next() * 400)), [1], be24(Math.floor(next() * 400)), [3, 3], rest);
      } else {
        bytes = valid.slice(0, Math.floor(next() * (valid.length + 1)));
        const flips = 1 + Math.floor(next() * 4);
        for (let k = 0; k < flips && bytes.length > 0; k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      }
      try {
        const hello = decodeClientHello(bytes);
        expect(hello.extensions.length).toBeLessThanOrEqual(MAX_EXTENSIONS);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw new Error(`case ${i}: non-DecodeError thrown: ${String(e)}`, { cause: e });
        expect(e.code).toMatch(/^tls\.[a-z_]+$/);
        codes.add(e.code);
      }
      looksLikeTls(bytes);
    }
    expect(codes).toContain('tls.truncated');
    expect(codes).toContain('tls.not_client_hello');
  });
});

describe('looksLikeTls', () => {
  it('checks content type, version and handshake type', () => {
    const stream = records(clientHello());
    expect(looksLikeTls(stream)).toBe(true);
    const { buf, off } = embedded(stream);
    expect(looksLikeTls(buf, off, stream.length)).toBe(true);
    expect(looksLikeTls(buf, off, 5)).toBe(false);
    expect(looksLikeTls(new Uint8Array([22, 3, 0, 0, 9, 1]))).toBe(true);
    expect(looksLikeTls(new Uint8Array([22, 3, 5, 0, 9, 1]))).toBe(false);
    expect(looksLikeTls(new Uint8Array([22, 3, 3, 0, 9, 2]))).toBe(false);
    expect(looksLikeTls(new Uint8Array([23, 3, 3, 0, 9, 1]))).toBe(false);
    expect(looksLikeTls(new TextEncoder().encode('GET / HTTP/1.1'))).toBe(false);
    expect(looksLikeTls(new Uint8Array([22, 3, 3, 0, 9]))).toBe(false);
    expect(looksLikeTls(new Uint8Array(0))).toBe(false);
    expect(looksLikeTls(stream, stream.length - 3, 10)).toBe(false);
  });
});

const TSHARK = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!TSHARK)('cross-check with tshark', () => {
  it('decodes the same SNI, ALPN, cipher suites and extensions as Wireshark', () => {
    const hellos = [
      records(clientHello()),
      records(clientHello(), [77], 0x0303),
      records(clientHello({ extensions: [alpnExt(['stratum+tcp', 'h2']), sniExt('XMR.example.net'), ext(0x2a2a, [])], suites: [0x002f, 0x0035] })),
    ];
    const frames = hellos.map((payload, i) => ({
      ts: 1_700_000_000_000 + i,
      data: ethernet(ipv4('192.0.2.10', '198.51.100.4', IpProto.TCP, tcp(50000 + i, 443, 1000, 1, TcpFlag.PSH | TcpFlag.ACK, payload))),
    }));
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-tls-'));
    try {
      const file = join(dir, 'tls.pcap');
      writeFileSync(file, pcapFile(LinkType.ETHERNET, frames));
      const fields = [
        'tls.handshake.extensions_server_name',
        'tls.handshake.extensions_alpn_str',
        'tls.handshake.cipher_suites_length',
        'tls.handshake.extension.type',
        'tls.handshake.version',
      ];
      const args = ['-n', '-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])];
      const out = spawnSync('tshark', args, { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      const rows = out.stdout.trimEnd().split('\n').map((line) => line.split('\t'));
      expect(rows).toHaveLength(hellos.length);
      hellos.forEach((payload, i) => {
        const hello = decodeClientHello(payload);
        const [sni, alpn, suitesLength, types, version] = rows[i]!;
        expect(sni!.toLowerCase()).toBe(hello.sni);
        expect(alpn!.split(',')).toEqual(hello.alpn);
        expect(Number(suitesLength)).toBe(hello.cipherSuites * 2);
        expect(types!.split(',').map(Number)).toEqual(hello.extensions);
        expect(Number(version)).toBe(hello.version);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
