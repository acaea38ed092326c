/**
 * Deterministic benchmark capture: mixed subscriber traffic (TCP web sessions with handshakes and
 * closes, UDP request/response flows, a few IPv6 sessions) with Stratum V1 and Monero mining
 * sessions sprinkled in, written as a classic pcap of at least `targetBytes`. Same bytes every run
 * (seeded PRNG, fixed start time); packets are written straight into a large output buffer.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { mulberry32 } from '../tests/support/random.js';


interface Session {
  kind: 'web' | 'udp' | 'stratum' | 'xmr' | 'web6';
  client: number;
  server: number;
  cport: number;
  sport: number;
  cseq: number;
  sseq: number;
  step: number;
  total: number;
  /** Mining sessions: next message index. */
  msg: number;
}

const STRATUM_C = [
  '{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}\n',
  '{"id":2,"method":"mining.authorize","params":["benchworker.rig%N","x"]}\n',
];
const STRATUM_S = [
  '{"id":1,"result":[[["mining.set_difficulty","1"],["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}\n',
  '{"id":2,"result":true,"error":null}\n{"id":null,"method":"mining.set_difficulty","params":[8192]}\n',
];
const STRATUM_NOTIFY =
  '{"id":null,"method":"mining.notify","params":["bf","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008","072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",[],"00000002","1c2ac4af","504e86b9",false]}\n';
const STRATUM_SUBMIT = '{"id":%N,"method":"mining.submit","params":["benchworker.rig1","bf","00000001","504e86ed","b2957c02"]}\n';
const XMR_LOGIN = '{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4BenchWallet%N","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}\n';
const XMR_LOGIN_RESULT =
  '{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"a1b2c3","job":{"blob":"0707d1a4ebac06c6e1dd8a0b1e2c4d7f1f8a2e3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7","job_id":"j1","target":"b88d0600","algo":"rx/0"},"status":"OK"}}\n';
const XMR_JOB = '{"jsonrpc":"2.0","method":"job","params":{"blob":"0707d1a4ebac06c6e1dd8a0b1e2c4d7f1f8a2e3b4c5d6e7f8091a2b3c4d5e6f7","job_id":"j%N","target":"b88d0600"}}\n';
const XMR_SUBMIT = '{"id":%N,"jsonrpc":"2.0","method":"submit","params":{"id":"a1b2c3","job_id":"j1","nonce":"deadbeef","result":"0000aa"}}\n';

export interface GenStats {
  bytes: number;
  packets: number;
  sessions: number;
  miningSessions: number;
  miningClients: number[];
}

/**
 * `bulk`: long web sessions (8–600 packets), few flows per GB (the original bench capture).
 * `subscriber`: what a subscriber link carries: nearly half the flows are DNS or other short UDP
 * exchanges of 2–4 packets and most TCP sessions are a handshake, a few data packets and a close,
 * giving more than 80,000 flows per GB.
 */
export type CaptureProfile = 'bulk' | 'subscriber';

/** Write the capture to `path`; returns what was generated. */
export function generateBenchCapture(path: string, targetBytes: number, seed = 20261121, profile: CaptureProfile = 'bulk'): GenStats {
  const many = profile === 'subscriber';
  const rnd = mulberry32(seed);
  const CHUNK = 8 << 20;
  const out = Buffer.alloc(CHUNK + 65536);
  let used = 0;
  let written = 0;
  const fd = openSync(path, 'w');
  const flush = (): void => {
    writeSync(fd, out, 0, used);
    written += used;
    used = 0;
  };
  // Global header: microsecond pcap, little-endian, Ethernet.
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(0, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(1, 20);
  used = 24;
  const junk = Buffer.alloc(2048);
  for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
  let tsUs = 1_700_000_000_000_000;
  let packets = 0;
  let sessions = 0;
  let miningSessions = 0;
  const miningClients = new Set<number>();
  const ACTIVE = 4000;
  const active: Session[] = [];

  const newSession = (): Session => {
    sessions++;
    const r = rnd();
    const client = (100 << 24) | (64 << 16) | Math.floor(rnd() * 65536);
    const server = ((1 + Math.floor(rnd() * 222)) << 24) | Math.floor(rnd() * 0xffffff);
    const cport = 1024 + Math.floor(rnd() * 64000);
    let kind: Session['kind'];
    if (r < 0.002) kind = 'stratum';
    else if (r < 0.004) kind = 'xmr';
    else if (r < (many ? 0.5 : 0.7)) kind = 'web';
    else if (r < (many ? 0.55 : 0.75)) kind = 'web6';
    else kind = 'udp';
    if (kind === 'stratum' || kind === 'xmr') miningSessions++;
    const sport = kind === 'stratum' ? 3333 : kind === 'xmr' ? 4444 : kind === 'udp' ? (rnd() < 0.5 ? 53 : 443) : rnd() < 0.8 ? 443 : 80;
    const total =
      kind === 'udp'
        ? 2 + Math.floor(rnd() * (many ? 3 : 40))
        : kind === 'stratum' || kind === 'xmr'
          ? 80 + Math.floor(rnd() * 80)
          : many && rnd() < 0.9
            ? 6 + Math.floor(rnd() * 10)
            : 8 + Math.floor(rnd() * 600);
    return { kind, client, server, cport, sport, cseq: Math.floor(rnd() * 0xffffffff), sseq: Math.floor(rnd() * 0xffffffff), step: 0, total, msg: 0 };
  };

  const emit = (s: Session, fromClient: boolean, flags: number, payload: Buffer | null, payloadLen: number): void => {
    const v6 = s.kind === 'web6';
    const udp = s.kind === 'udp';
    const l4 = udp ? 8 : 20;
    const ipLen = (v6 ? 40 : 20) + l4 + payloadLen;
    const frame = 14 + ipLen;
    let p = used;
    out.writeUInt32LE(Math.floor(tsUs / 1e6), p);
    out.writeUInt32LE(tsUs % 1e6, p + 4);
    out.writeUInt32LE(frame, p + 8);
    out.writeUInt32LE(frame, p + 12);
    p += 16;
    // Ethernet
    out.fill(0x02, p, p + 12);
    out.writeUInt16BE(v6 ? 0x86dd : 0x0800, p + 12);
    p += 14;
    const src = fromClient ? s.client : s.server;
    const dst = fromClient ? s.server : s.client;
    if (v6) {
      out.writeUInt32BE(0x60000000, p);
      out.writeUInt16BE(l4 + payloadLen, p + 4);
      out[p + 6] = 6;
      out[p + 7] = 64;
      // Clients live in 2001:db8::/64, servers in 2001:db8:0:1::/64.
      out.writeUInt32BE(0x20010db8, p + 8);
      out.writeUInt32BE(fromClient ? 0 : 1, p + 12);
      out.writeUInt32BE(0, p + 16);
      out.writeUInt32BE(src >>> 0, p + 20);
      out.writeUInt32BE(0x20010db8, p + 24);
      out.writeUInt32BE(fromClient ? 1 : 0, p + 28);
      out.writeUInt32BE(0, p + 32);
      out.writeUInt32BE(dst >>> 0, p + 36);
      p += 40;
    } else {
      out[p] = 0x45;
      out[p + 1] = 0;
      out.writeUInt16BE(ipLen, p + 2);
      out.writeUInt32BE(0x40000000, p + 4);
      out[p + 8] = 64;
      out[p + 9] = udp ? 17 : 6;
      out.writeUInt16BE(0, p + 10);
      out.writeUInt32BE(src >>> 0, p + 12);
      out.writeUInt32BE(dst >>> 0, p + 16);
      p += 20;
    }
    out.writeUInt16BE(fromClient ? s.cport : s.sport, p);
    out.writeUInt16BE(fromClient ? s.sport : s.cport, p + 2);
    if (udp) {
      out.writeUInt16BE(8 + payloadLen, p + 4);
      out.writeUInt16BE(0, p + 6);
    } else {
      out.writeUInt32BE((fromClient ? s.cseq : s.sseq) >>> 0, p + 4);
      out.writeUInt32BE((fromClient ? s.sseq : s.cseq) >>> 0, p + 8);
      out[p + 12] = 0x50;
      out[p + 13] = flags;
      out.writeUInt16BE(65535, p + 14);
      out.writeUInt32BE(0, p + 16);
      const adv = payloadLen + (flags & 0x03 ? 1 : 0);
      if (fromClient) s.cseq = (s.cseq + adv) >>> 0;
      else s.sseq = (s.sseq + adv) >>> 0;
    }
    p += l4;
    if (payloadLen) {
      if (payload) payload.copy(out, p, 0, payloadLen);
      else junk.copy(out, p, 0, payloadLen);
    }
    used = p + payloadLen;
    packets++;
    if (used >= CHUNK) flush();
  };

  const text = (t: string, n: number): Buffer => Buffer.from(t.replace(/%N/g, String(n)));

  /** Emit the session's next packet; returns false when it is finished. */
  const step = (s: Session): boolean => {
    const i = s.step++;
    if (s.kind === 'udp') {
      const fromClient = i % 2 === 0;
      emit(s, fromClient, 0, null, fromClient ? 40 + Math.floor(rnd() * 200) : 100 + Math.floor(rnd() * 1100));
      return s.step < s.total;
    }
    if (i === 0) {
      emit(s, true, 0x02, null, 0);
      return true;
    }
    if (i === 1) {
      emit(s, false, 0x12, null, 0);
      return true;
    }
    if (i === 2) {
      emit(s, true, 0x10, null, 0);
      return true;
    }
    if (s.step >= s.total) {
      emit(s, true, 0x11, null, 0);
      emit(s, false, 0x11, null, 0);
      emit(s, true, 0x10, null, 0);
      return false;
    }
    if (s.kind === 'stratum' || s.kind === 'xmr') {
      const m = s.msg++;
      // A mining session counts once its first message is on the wire.
      if (m === 0) miningClients.add(s.client);
      let fromClient: boolean;
      let b: Buffer;
      if (s.kind === 'stratum') {
        if (m < 2) [fromClient, b] = [true, text(STRATUM_C[m]!, sessions)];
        else if (m < 4) [fromClient, b] = [false, text(STRATUM_S[m - 2]!, 0)];
        else if (m % 3 === 0) [fromClient, b] = [true, text(STRATUM_SUBMIT, m)];
        else if (m % 3 === 1) [fromClient, b] = [false, text('{"id":%N,"result":true,"error":null}\n', m - 1)];
        else [fromClient, b] = [false, text(STRATUM_NOTIFY, 0)];
      } else {
        if (m === 0) [fromClient, b] = [true, text(XMR_LOGIN, sessions)];
        else if (m === 1) [fromClient, b] = [false, text(XMR_LOGIN_RESULT, 0)];
        else if (m % 3 === 0) [fromClient, b] = [true, text(XMR_SUBMIT, m)];
        else if (m % 3 === 1) [fromClient, b] = [false, text('{"id":%N,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n', m - 1)];
        else [fromClient, b] = [false, text(XMR_JOB, m)];
      }
      emit(s, fromClient, 0x18, b, b.length);
      return true;
    }
    // Web: mostly server → client data, some client requests and ACKs.
    const r = rnd();
    if (r < 0.15) emit(s, true, 0x18, null, 200 + Math.floor(rnd() * 600));
    else if (r < 0.35) emit(s, true, 0x10, null, 0);
    else emit(s, false, 0x18, null, rnd() < 0.7 ? 1448 : 100 + Math.floor(rnd() * 1300));
    return true;
  };

  for (let i = 0; i < ACTIVE; i++) active.push(newSession());
  while (written + used < targetBytes) {
    const k = Math.floor(rnd() * ACTIVE);
    const s = active[k]!;
    // Mining sessions are slow: most of their turns pass without a packet.
    if ((s.kind === 'stratum' || s.kind === 'xmr') && rnd() < 0.9) continue;
    if (!step(s)) active[k] = newSession();
    tsUs += 1 + Math.floor(rnd() * 600);
  }
  flush();
  closeSync(fd);
  return { bytes: written, packets, sessions, miningSessions, miningClients: [...miningClients] };
}
