import type { FlowRecord } from '../types.js';

/** Swap client and server in place (used when the messages prove the port guess wrong). */
export function reverseFlow(f: FlowRecord): void {
  [f.client, f.server] = [f.server, f.client];
  [f.clientPort, f.serverPort] = [f.serverPort, f.clientPort];
  [f.packetsC2S, f.packetsS2C] = [f.packetsS2C, f.packetsC2S];
  [f.bytesC2S, f.bytesS2C] = [f.bytesS2C, f.bytesC2S];
  [f.tcpFlagsC2S, f.tcpFlagsS2C] = [f.tcpFlagsS2C, f.tcpFlagsC2S];
  [f.payloadC2S, f.payloadS2C] = [f.payloadS2C, f.payloadC2S];
  [f.payloadTimeC2S, f.payloadTimeS2C] = [f.payloadTimeS2C, f.payloadTimeC2S];
  [f.firstSegmentC2S, f.firstSegmentS2C] = [f.firstSegmentS2C, f.firstSegmentC2S];
  f.orientation = 'payload';
}
