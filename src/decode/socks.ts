/**
 * SOCKS preambles: a miner told to use a proxy (XMRig `--proxy`, many botnets) opens the TCP
 * connection to the proxy, negotiates, and then speaks its pool protocol through it. The bytes
 * after the preamble are the tunnelled stream; the CONNECT request names the real destination.
 * Pure functions over a payload prefix: they return where the tunnelled stream starts.
 * @see RFC 1928 (SOCKS5), RFC 1929 (username/password), SOCKS 4 and 4a
 */

export interface SocksTarget {
  /** Bytes of the client's preamble (greeting, authentication, request). */
  length: number;
  version: 4 | 5;
  /** The destination asked for: a host name or an address, and its port. */
  host: string;
  port: number;
}

const CONNECT = 1;

/** The client's SOCKS preamble at the start of `p`, or null when `p` does not start with one. */
export function socksClientPreamble(p: Uint8Array): SocksTarget | null {
  if (p.length < 9) return null;
  return p[0] === 5 ? socks5Client(p) : p[0] === 4 ? socks4Client(p) : null;
}

function socks5Client(p: Uint8Array): SocksTarget | null {
  const n = p[1]!;
  if (n < 1 || n > 9 || 2 + n > p.length) return null;
  let userPass = false;
  for (let i = 0; i < n; i++) {
    const m = p[2 + i]!;
    // 0 none, 1 GSSAPI, 2 username/password, 0x80-0xFE private; anything else is not a greeting.
    if (m > 2 && (m < 0x80 || m === 0xff)) return null;
    if (m === 2) userPass = true;
  }
  let o = 2 + n;
  // RFC 1929 sub-negotiation, when the client offered it and sends it next.
  if (userPass && p[o] === 1) {
    const ulen = p[o + 1];
    if (ulen === undefined || o + 2 + ulen >= p.length) return null;
    const plen = p[o + 2 + ulen]!;
    o += 3 + ulen + plen;
  }
  if (o + 4 > p.length || p[o] !== 5 || p[o + 1] !== CONNECT || p[o + 2] !== 0) return null;
  const atyp = p[o + 3]!;
  o += 4;
  let host: string;
  if (atyp === 1) {
    if (o + 6 > p.length) return null;
    host = `${p[o]}.${p[o + 1]}.${p[o + 2]}.${p[o + 3]}`;
    o += 4;
  } else if (atyp === 3) {
    const len = p[o]!;
    if (len === 0 || o + 1 + len + 2 > p.length) return null;
    host = latin1(p, o + 1, len);
    if (!/^[A-Za-z0-9._-]+$/.test(host)) return null;
    o += 1 + len;
  } else if (atyp === 4) {
    if (o + 18 > p.length) return null;
    const g: string[] = [];
    for (let i = 0; i < 16; i += 2) g.push(((p[o + i]! << 8) | p[o + i + 1]!).toString(16));
    host = g.join(':');
    o += 16;
  } else return null;
  const port = (p[o]! << 8) | p[o + 1]!;
  if (port === 0) return null;
  return { length: o + 2, version: 5, host: host.toLowerCase(), port };
}

function socks4Client(p: Uint8Array): SocksTarget | null {
  if (p[1] !== CONNECT) return null;
  const port = (p[2]! << 8) | p[3]!;
  if (port === 0) return null;
  // USERID, NUL-terminated (bounded).
  let o = 8;
  const end = Math.min(p.length, o + 256);
  while (o < end && p[o] !== 0) o++;
  if (o >= end) return null;
  o++;
  let host = `${p[4]}.${p[5]}.${p[6]}.${p[7]}`;
  // SOCKS 4a: 0.0.0.x (x ≠ 0) means a host name follows.
  if (p[4] === 0 && p[5] === 0 && p[6] === 0 && p[7] !== 0) {
    const s = o;
    const e = Math.min(p.length, s + 256);
    while (o < e && p[o] !== 0) o++;
    if (o >= e || o === s) return null;
    host = latin1(p, s, o - s);
    if (!/^[A-Za-z0-9._-]+$/.test(host)) return null;
    o++;
  }
  return { length: o, version: 4, host: host.toLowerCase(), port };
}

/** Bytes of the proxy's answers to a preamble of `version` at the start of `p` (0 when they are not there). */
export function socksServerPreamble(p: Uint8Array, version: 4 | 5): number {
  if (version === 4) return p.length >= 8 && p[0] === 0 && p[1] === 0x5a ? 8 : 0;
  if (p.length < 2 || p[0] !== 5 || p[1] === 0xff) return 0;
  let o = 2;
  // Username/password status.
  if (p[1] === 2) {
    if (p.length < o + 2 || p[o] !== 1 || p[o + 1] !== 0) return 0;
    o += 2;
  }
  if (p.length < o + 4 || p[o] !== 5 || p[o + 1] !== 0) return 0;
  const atyp = p[o + 3]!;
  const addr = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + (p[o + 4] ?? 0) : -1;
  if (addr < 0 || p.length < o + 4 + addr + 2) return 0;
  return o + 4 + addr + 2;
}

function latin1(p: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(p[off + i]!);
  return s;
}
