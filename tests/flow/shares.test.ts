/**
 * The share meter on real packet bytes: sessions are built with tests/support/builders.ts, decoded
 * with decodePacket and fed to a FlowTable, so shares beyond the 4 KiB payload prefix, TCP
 * retransmissions, gaps, active-timeout cuts and long lines all go through the real path.
 */
import { describe, expect, it } from 'vitest';
import { LINKTYPE, PacketStatus, PacketView, decodePacket } from '../../src/decode/packet.js';
import { DEFAULT_FLOW_OPTIONS, FlowTable, type FlowTableOptions } from '../../src/flow/table.js';
import { hashesFromCompactTarget, hashesFromTarget256, MAX_LINE, PROBE_BYTES } from '../../src/flow/shares.js';
import { SHARE_METHODS } from '../../src/flow/sharemethods.js';
import { tcpSession, type SessionMessage, type TimedPacket } from '../support/builders.js';
import { projectRules } from '../helpers.js';
import type { FlowRecord } from '../../src/types.js';

const T0 = 1_700_000_000_000;
const CLIENT: [string, number] = ['100.64.0.12', 50123];
const SERVER: [string, number] = ['198.51.100.20', 3333];

function run(packets: TimedPacket[], opts: Partial<FlowTableOptions> = {}): FlowRecord[] {
  const flows: FlowRecord[] = [];
  const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 1024, ...opts }, (f) => flows.push(f));
  const v = new PacketView();
  for (const p of packets) {
    const buf = p.ip.slice();
    expect(decodePacket(LINKTYPE.RAW, buf, 0, buf.length, buf.length, v)).toBe(PacketStatus.Transport);
    v.time = p.ts;
    table.add(v, buf, 0);
    buf.fill(0xee);
  }
  table.flush();
  return flows;
}

const c = (data: string, gapMs = 10, segments = 1): SessionMessage => ({ from: 'client', data: data + '\n', gapMs, segments });
const s = (data: string, gapMs = 10): SessionMessage => ({ from: 'server', data: data + '\n', gapMs });

/** A Stratum V1 session: difficulty 8, `n` submits each answered (rejected where `reject(i)`). */
function stratumV1(n: number, reject: (i: number) => boolean = () => false): SessionMessage[] {
  const m: SessionMessage[] = [
    c('{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}'),
    s('{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}'),
    c('{"id":2,"method":"mining.authorize","params":["worker.1","x"]}'),
    s('{"id":2,"result":true,"error":null}'),
    s('{"id":null,"method":"mining.set_difficulty","params":[8]}'),
  ];
  for (let i = 0; i < n; i++) {
    const id = 100 + i;
    // Split some submits over segments so lines cross packet boundaries.
    m.push(c(`{"params":["worker.1","bf","00000001","504e86ed","b2957c02"],"id":${id},"method":"mining.submit"}`, 20_000, 1 + (i % 3)));
    m.push(s(reject(i) ? `{"id":${id},"result":null,"error":[21,"Stale job",null]}` : `{"id":${id},"result":true,"error":null}`));
  }
  return m;
}

describe('share meter', () => {
  it('counts every submit and reply of a Stratum V1 session, far beyond the payload prefix', () => {
    const [f] = run(tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: stratumV1(60, (i) => i % 20 === 7) }));
    expect(f!.payloadC2S.length).toBe(4096);
    expect(f!.shares).toMatchObject({ submitted: 60, accepted: 57, rejected: 3, answered: true, counted: 57, difficulty: 57 * 8, hashes: 0, unknownWork: 0, gaps: 0 });
    expect(f!.shares!.lastShare - f!.shares!.firstShare).toBeGreaterThan(59 * 20_000);
  });

  it('does not count a retransmitted submit twice', () => {
    const packets = tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: stratumV1(5) });
    const i = packets.findIndex((p) => new TextDecoder().decode(p.ip).includes('"id":103,"method":"mining.submit"'));
    expect(i).toBeGreaterThan(0);
    packets.splice(i + 1, 0, { ...packets[i]!, ts: packets[i]!.ts + 200 });
    const [f] = run(packets);
    expect(f!.shares).toMatchObject({ submitted: 5, accepted: 5, gaps: 0 });
  });

  it('a lost segment is a counted gap; the line it cut is dropped, the next one counts', () => {
    const packets = tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: stratumV1(5) });
    const i = packets.findIndex((p) => new TextDecoder().decode(p.ip).includes('"id":103,"method":"mining.submit"'));
    expect(i).toBeGreaterThan(0);
    packets.splice(i, 1);
    const [f] = run(packets);
    expect(f!.shares).toMatchObject({ submitted: 4, gaps: 1 });
  });

  it('with the handshake seen, losing the server\'s first data segment is a counted gap too', () => {
    const packets = tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: stratumV1(3) });
    // The subscribe result: the server's first data segment.
    const i = packets.findIndex((p) => new TextDecoder().decode(p.ip).includes('"id":1,"result":[['));
    expect(i).toBeGreaterThan(0);
    packets.splice(i, 1);
    const [f] = run(packets);
    expect(f!.shares).toMatchObject({ submitted: 3, accepted: 3, gaps: 1 });
  });

  it('without replies the submitted shares count, and say so', () => {
    const msgs = stratumV1(4).filter((m) => !(m.from === 'server' && String(m.data).includes('"result":true,"error":null}') && !String(m.data).includes('"id":2')));
    const [f] = run(tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: msgs }));
    expect(f!.shares).toMatchObject({ submitted: 4, accepted: 0, answered: false, counted: 4, difficulty: 32 });
  });

  it('values Equihash submits longer than a line buffer by the 256-bit target', () => {
    const target = '0004189374bc6a7ef9db22d0e5604189374bc6a7ef9db22d0e5604189374bc6a';
    const solution = 'fd4005' + 'ab'.repeat(1344);
    const msgs: SessionMessage[] = [
      c('{"id":1,"method":"mining.subscribe","params":["nheqminer/0.5c",null,"pool","3333"]}'),
      s('{"id":1,"result":[null,"e66c000000000000"],"error":null}'),
      s(`{"id":null,"method":"mining.set_target","params":["${target}"]}`),
    ];
    for (let i = 0; i < 3; i++) {
      msgs.push(c(`{"id":${10 + i},"method":"mining.submit","params":["t1Kxxx.rig","1484582242","61ed7c58","f30c0000","${solution}"]}`, 30_000, 3));
      msgs.push(s(`{"id":${10 + i},"result":true,"error":null}`));
    }
    expect(String(msgs[3]!.data).length).toBeGreaterThan(MAX_LINE);
    const [f] = run(tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: msgs }));
    expect(f!.shares).toMatchObject({ submitted: 3, accepted: 3, difficulty: 0 });
    expect(f!.shares!.hashes).toBeCloseTo(3 * hashesFromTarget256(target), 3);
    expect(hashesFromTarget256(target)).toBeCloseTo(16000, 6);
  });

  it('values CryptoNote submits by the target of the job they name, and reads the algorithm', () => {
    const msgs: SessionMessage[] = [
      c('{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4Abc","pass":"x","agent":"XMRig/6.21.0","algo":["rx/0","cn/r"]}}'),
      s('{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"s1","job":{"blob":"0e0e","job_id":"J1","target":"b88d0600","algo":"rx/0"},"status":"OK"}}'),
      c('{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":"s1","job_id":"J1","nonce":"90290080","result":"c3"}}', 5000),
      s('{"id":2,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}'),
      s('{"jsonrpc":"2.0","method":"job","params":{"blob":"0e0f","job_id":"J2","target":"dc460300","algo":"rx/0"}}', 5000),
      // A late share for the older job keeps the older job's value.
      c('{"id":3,"jsonrpc":"2.0","method":"submit","params":{"id":"s1","job_id":"J1","nonce":"00000001","result":"c4"}}', 100),
      s('{"id":3,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}'),
      c('{"id":4,"jsonrpc":"2.0","method":"submit","params":{"id":"s1","job_id":"J2","nonce":"00000002","result":"c5"}}', 5000),
      s('{"id":4,"jsonrpc":"2.0","error":{"code":-1,"message":"Low difficulty share"}}'),
    ];
    const [f] = run(tcpSession({ client: CLIENT, server: ['198.51.100.20', 10128], start: T0, messages: msgs }));
    const d1 = hashesFromCompactTarget('b88d0600');
    expect(d1).toBeCloseTo(10000, 0);
    expect(hashesFromCompactTarget('dc460300')).toBeCloseTo(20000, 0);
    expect(f!.shares).toMatchObject({ submitted: 3, accepted: 2, rejected: 1, algorithm: 'rx/0', difficulty: 0 });
    expect(f!.shares!.hashes).toBeCloseTo(2 * d1, 6);
  });

  it('reads ETHPROXY work boundaries, eth_submitWork and the miner-reported eth_submitHashrate', () => {
    const boundary = '0x0000000112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba';
    const msgs: SessionMessage[] = [
      c('{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["0xb3c4","x"],"worker":"rig1"}'),
      s('{"id":1,"jsonrpc":"2.0","result":true}'),
      c('{"id":2,"jsonrpc":"2.0","method":"eth_getWork","params":[]}'),
      s(`{"id":2,"jsonrpc":"2.0","result":["0x9b2c","0x5eed","${boundary}"]}`),
      c('{"id":3,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x1d0a6e3","0xabc"]}', 1000),
      c('{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x1","0x9b2c","0x3"]}', 60_000),
      s('{"id":4,"jsonrpc":"2.0","result":true}'),
    ];
    const [f] = run(tcpSession({ client: CLIENT, server: ['198.51.100.20', 9999], start: T0, messages: msgs }));
    expect(f!.shares).toMatchObject({ submitted: 1, accepted: 1, reportedHashrate: 0x1d0a6e3 });
    expect(f!.shares!.hashes).toBeCloseTo(2 ** 256 / Number(BigInt(boundary)), -3);
    expect(f!.shares!.hashes).toBeCloseTo(4e9, -8);
  });

  it('a later difficulty applies to later shares only', () => {
    const msgs = stratumV1(2);
    msgs.push(s('{"id":null,"method":"mining.set_difficulty","params":[64]}'));
    msgs.push(c('{"params":["worker.1","bf","00000001","504e86ed","b2957c02"],"id":900,"method":"mining.submit"}'));
    msgs.push(s('{"id":900,"result":true,"error":null}'));
    const [f] = run(tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: msgs }));
    expect(f!.shares).toMatchObject({ accepted: 3, difficulty: 8 + 8 + 64 });
  });

  it('keeps the pool difficulty across an active-timeout cut and counts each piece on its own', () => {
    const msgs = stratumV1(10);
    const pieces = run(tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: msgs }), { activeTimeoutMs: 100_000 });
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    expect(pieces[0]!.endReason).toBe('active');
    const sum = (k: 'submitted' | 'accepted'): number => pieces.reduce((n, p) => n + (p.shares?.[k] ?? 0), 0);
    expect(sum('submitted')).toBe(10);
    expect(sum('accepted')).toBe(10);
    // The difficulty was set in the first piece only; the later pieces' shares still carry it.
    for (const p of pieces.slice(1)) {
      expect(p.shares!.unknownWork).toBe(0);
      expect(p.shares!.difficulty).toBe(8 * p.shares!.accepted);
    }
  });

  it('gives up on JSON that is not mining within its probe budget, and meters no other protocol', () => {
    const msgs: SessionMessage[] = [];
    for (let i = 0; i < 200; i++) msgs.push(c(`{"jsonrpc":"2.0","id":${i},"method":"getblockcount","params":[]}`), s(`{"jsonrpc":"2.0","id":${i},"result":123}`));
    expect(msgs.reduce((n, m) => n + String(m.data).length, 0)).toBeGreaterThan(PROBE_BYTES);
    const [f] = run(tcpSession({ client: CLIENT, server: ['198.51.100.20', 8332], start: T0, messages: msgs }));
    expect(f!.shares).toBeUndefined();
    const [g] = run(tcpSession({ client: CLIENT, server: ['198.51.100.20', 80], start: T0, messages: [c('GET / HTTP/1.1'), s('HTTP/1.1 200 OK')] }));
    expect(g!.shares).toBeUndefined();
  });

  it('hostile values end nothing: objects where numbers belong, absurd reported rates', () => {
    const msgs = stratumV1(2);
    msgs.splice(5, 0, s('{"id":null,"method":"mining.set_difficulty","params":[{"valueOf":1,"toString":1}]}'));
    msgs.push(c('{"id":9,"method":"eth_submitHashrate","params":["0x' + 'f'.repeat(64) + '","0x1"]}'));
    const [f] = run(tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: msgs }));
    expect(f!.shares).toMatchObject({ submitted: 2, accepted: 2, difficulty: 16, reportedHashrate: null });
  });

  it('a segment that arrives before its predecessor waits for it: no share lost, no gap', () => {
    const msgs = stratumV1(0);
    for (let id = 100; id < 104; id++) msgs.push(c(`{"params":["worker.1","bf","00000001","504e86ed","b2957c02"],"id":${id},"method":"mining.submit"}`, 1));
    for (let id = 100; id < 104; id++) msgs.push(s(`{"id":${id},"result":true,"error":null}`));
    const packets = tcpSession({ client: CLIENT, server: SERVER, start: T0, messages: msgs });
    const dec = (p: TimedPacket): string => new TextDecoder().decode(p.ip);
    const i = packets.findIndex((p) => dec(p).includes('"id":100,"method":"mining.submit"'));
    const j = packets.findIndex((p) => dec(p).includes('"id":102,"method":"mining.submit"'));
    expect(j).toBeGreaterThan(i);
    // Submit 102 overtakes 100 and 101 on the way.
    const [late] = packets.splice(j, 1);
    packets.splice(i, 0, late!);
    const [f] = run(packets);
    expect(f!.shares).toMatchObject({ submitted: 4, accepted: 4, gaps: 0 });
  });

  it('a reused submit id counts each submit and each answer', () => {
    const msgs: SessionMessage[] = [
      c('{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["0xb3c4","x"]}'),
      s('{"id":1,"jsonrpc":"2.0","result":true}'),
      s('{"id":0,"jsonrpc":"2.0","result":["0x9b2c","0x5eed","0x0000000112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba"]}'),
      c('{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x1","0x9b2c","0x3"]}'),
      c('{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x2","0x9b2c","0x3"]}'),
      s('{"id":4,"jsonrpc":"2.0","result":true}'),
      s('{"id":4,"jsonrpc":"2.0","result":false}'),
    ];
    const [f] = run(tcpSession({ client: CLIENT, server: ['198.51.100.20', 9999], start: T0, messages: msgs }));
    expect(f!.shares).toMatchObject({ submitted: 2, accepted: 1, rejected: 1 });
  });

  it('a capture that starts mid-session with long mining.notify lines keeps metering until a submit', () => {
    const branch = Array.from({ length: 12 }, (_, i) => `"${String(i).repeat(64).slice(0, 64)}"`).join(',');
    const notify = `{"id":null,"method":"mining.notify","params":["4f","${'ab'.repeat(32)}","${'cd'.repeat(60)}","${'ef'.repeat(40)}",[${branch}],"20000000","1d00ffff","5f5e1000",false]}`;
    expect(notify.length).toBeGreaterThan(MAX_LINE);
    const msgs: SessionMessage[] = [];
    for (let i = 0; i < 12; i++) msgs.push(s(notify, 30_000));
    msgs.push(s('{"id":null,"method":"mining.set_difficulty","params":[4]}'));
    msgs.push(c('{"params":["w","4f","00000001","504e86ed","b2957c02"],"id":50,"method":"mining.submit"}'), s('{"id":50,"result":true,"error":null}'));
    expect(msgs.reduce((n, m) => n + String(m.data).length, 0)).toBeGreaterThan(PROBE_BYTES);
    const [f] = run(tcpSession({ client: CLIENT, server: SERVER, start: T0, handshake: false, messages: msgs }));
    expect(f!.shares).toMatchObject({ submitted: 1, accepted: 1, difficulty: 4 });
  });

  it('rejects malformed targets rather than inventing work', () => {
    expect(hashesFromCompactTarget('zz8d0600')).toBeNaN();
    expect(hashesFromCompactTarget('00000000')).toBeNaN();
    expect(hashesFromCompactTarget('b88d06')).toBeNaN();
    expect(hashesFromTarget256('0x')).toBeNaN();
    expect(hashesFromTarget256('00')).toBeNaN();
    expect(hashesFromTarget256(12)).toBeNaN();
  });
});

describe('share methods', () => {
  it('every method the meter reads is one a signature in rules/signatures names (a dialect is detected before it is metered)', () => {
    const named = new Set(projectRules().payload.flatMap((r) => (r.on === 'json' ? (r.match.methods ?? []) : [])));
    expect([...SHARE_METHODS.keys()].filter((m) => !named.has(m))).toEqual([]);
  });
});
