/** Flow records for tests of the stages after the flow table: every field set, no payload, overridable. */
import type { FlowRecord, Verdict } from '../../src/types.js';

/** A TCP flow of one IPv4 client to a server, from packets, with no payload; `over` sets any field. */
export function flowRecord(over: Partial<FlowRecord> = {}): FlowRecord {
  return {
    client: '100.64.1.2',
    clientPort: 50123,
    server: '198.51.100.200',
    serverPort: 443,
    transport: 'tcp',
    ipVersion: 4,
    orientation: 'syn',
    firstSeen: Date.UTC(2026, 10, 21),
    lastSeen: Date.UTC(2026, 10, 21) + 60_000,
    packetsC2S: 10,
    packetsS2C: 10,
    bytesC2S: 1000,
    bytesS2C: 1000,
    tcpFlagsC2S: 0x1b,
    tcpFlagsS2C: 0x1a,
    endReason: 'closed',
    payloadC2S: new Uint8Array(0),
    payloadS2C: new Uint8Array(0),
    payloadTimeC2S: 0,
    payloadTimeS2C: 0,
    firstSegmentC2S: 0,
    firstSegmentS2C: 0,
    inputIndex: 0,
    lastInputIndex: 0,
    source: 'packets',
    records: 0,
    sampling: 1,
    ...over,
  };
}

/**
 * The verdict of a flow no evidence applied to, written out here (not taken from the classifier's
 * constants, so a test that expects the report's plain row notices when they change).
 */
export function noneVerdict(): Verdict {
  return {
    label: 'none',
    confidence: 'none',
    evidence: [],
    attributes: { coin: null, agent: null, software: null, workers: [], pool: null, serverName: null },
    reason: 'no mining evidence',
    outcome: null,
  };
}
