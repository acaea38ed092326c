/**
 * Information elements the flow-export decoders interpret: the IANA IPFIX registry entries that
 * carry a flow's key, counters, times, sampling and NAT translation, plus the enterprise numbers
 * that can be named with confidence. NetFlow v9 field types 1–127 are the same numbers as the
 * IANA elements (RFC 3954 §8 was the starting point of the IANA registry), so one table serves
 * both. Every element not listed here is skipped by its length.
 *
 * @see RFC 7011 §3.2 (field specifier, enterprise bit), RFC 7012 §4 (IANA IPFIX IE registry)
 * @see RFC 3954 §8 (NetFlow v9 field type definitions)
 * @see RFC 5103 §6.1 (reverse information elements, PEN 29305)
 * @see RFC 8158 (NAT logging elements), RFC 5477 §8 (sampling elements)
 */

/** Abstract data type of an element (RFC 7012 §3.1), as far as the decoders need it. */
export type IeType =
  | 'unsigned'
  | 'ipv4Address'
  | 'ipv6Address'
  | 'dateTimeSeconds'
  | 'dateTimeMilliseconds'
  | 'dateTimeMicroseconds'
  | 'dateTimeNanoseconds'
  | 'octetArray'
  | 'string';

/** One element of the table. */
export interface IeInfo {
  id: number;
  name: string;
  type: IeType;
}

/** IANA element ids used by the decoders (names as in the IANA registry). */
export const IE = {
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  tcpControlBits: 6,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  flowEndSysUpTime: 21,
  flowStartSysUpTime: 22,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  samplingInterval: 34,
  samplingAlgorithm: 35,
  samplerId: 48,
  samplerMode: 49,
  samplerRandomInterval: 50,
  ipVersion: 60,
  flowDirection: 61,
  octetTotalCount: 85,
  packetTotalCount: 86,
  flowStartSeconds: 150,
  flowEndSeconds: 151,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  flowStartMicroseconds: 154,
  flowEndMicroseconds: 155,
  flowStartNanoseconds: 156,
  flowEndNanoseconds: 157,
  flowStartDeltaMicroseconds: 158,
  flowEndDeltaMicroseconds: 159,
  systemInitTimeMilliseconds: 160,
  postNATSourceIPv4Address: 225,
  postNATDestinationIPv4Address: 226,
  postNAPTSourceTransportPort: 227,
  postNAPTDestinationTransportPort: 228,
  natEvent: 230,
  initiatorOctets: 231,
  responderOctets: 232,
  postNATSourceIPv6Address: 281,
  postNATDestinationIPv6Address: 282,
  initiatorPackets: 298,
  responderPackets: 299,
  selectorId: 302,
  samplingPacketInterval: 305,
  samplingPacketSpace: 306,
  samplingSize: 309,
  samplingPopulation: 310,
  observationTimeMilliseconds: 323,
  portRangeStart: 361,
  portRangeEnd: 362,
  portRangeStepSize: 363,
  portRangeNumPorts: 364,
} as const;

const TABLE: readonly IeInfo[] = [
  { id: 1, name: 'octetDeltaCount', type: 'unsigned' },
  { id: 2, name: 'packetDeltaCount', type: 'unsigned' },
  { id: 4, name: 'protocolIdentifier', type: 'unsigned' },
  { id: 5, name: 'ipClassOfService', type: 'unsigned' },
  { id: 6, name: 'tcpControlBits', type: 'unsigned' },
  { id: 7, name: 'sourceTransportPort', type: 'unsigned' },
  { id: 8, name: 'sourceIPv4Address', type: 'ipv4Address' },
  { id: 9, name: 'sourceIPv4PrefixLength', type: 'unsigned' },
  { id: 10, name: 'ingressInterface', type: 'unsigned' },
  { id: 11, name: 'destinationTransportPort', type: 'unsigned' },
  { id: 12, name: 'destinationIPv4Address', type: 'ipv4Address' },
  { id: 13, name: 'destinationIPv4PrefixLength', type: 'unsigned' },
  { id: 14, name: 'egressInterface', type: 'unsigned' },
  { id: 15, name: 'ipNextHopIPv4Address', type: 'ipv4Address' },
  { id: 16, name: 'bgpSourceAsNumber', type: 'unsigned' },
  { id: 17, name: 'bgpDestinationAsNumber', type: 'unsigned' },
  { id: 21, name: 'flowEndSysUpTime', type: 'unsigned' },
  { id: 22, name: 'flowStartSysUpTime', type: 'unsigned' },
  { id: 27, name: 'sourceIPv6Address', type: 'ipv6Address' },
  { id: 28, name: 'destinationIPv6Address', type: 'ipv6Address' },
  { id: 34, name: 'samplingInterval', type: 'unsigned' },
  { id: 35, name: 'samplingAlgorithm', type: 'unsigned' },
  { id: 48, name: 'samplerId', type: 'unsigned' },
  { id: 49, name: 'samplerMode', type: 'unsigned' },
  { id: 50, name: 'samplerRandomInterval', type: 'unsigned' },
  { id: 56, name: 'sourceMacAddress', type: 'octetArray' },
  { id: 57, name: 'postDestinationMacAddress', type: 'octetArray' },
  { id: 58, name: 'vlanId', type: 'unsigned' },
  { id: 60, name: 'ipVersion', type: 'unsigned' },
  { id: 61, name: 'flowDirection', type: 'unsigned' },
  { id: 62, name: 'ipNextHopIPv6Address', type: 'ipv6Address' },
  { id: 85, name: 'octetTotalCount', type: 'unsigned' },
  { id: 86, name: 'packetTotalCount', type: 'unsigned' },
  { id: 130, name: 'exporterIPv4Address', type: 'ipv4Address' },
  { id: 131, name: 'exporterIPv6Address', type: 'ipv6Address' },
  { id: 136, name: 'flowEndReason', type: 'unsigned' },
  { id: 148, name: 'flowId', type: 'unsigned' },
  { id: 149, name: 'observationDomainId', type: 'unsigned' },
  { id: 150, name: 'flowStartSeconds', type: 'dateTimeSeconds' },
  { id: 151, name: 'flowEndSeconds', type: 'dateTimeSeconds' },
  { id: 152, name: 'flowStartMilliseconds', type: 'dateTimeMilliseconds' },
  { id: 153, name: 'flowEndMilliseconds', type: 'dateTimeMilliseconds' },
  { id: 154, name: 'flowStartMicroseconds', type: 'dateTimeMicroseconds' },
  { id: 155, name: 'flowEndMicroseconds', type: 'dateTimeMicroseconds' },
  { id: 156, name: 'flowStartNanoseconds', type: 'dateTimeNanoseconds' },
  { id: 157, name: 'flowEndNanoseconds', type: 'dateTimeNanoseconds' },
  { id: 158, name: 'flowStartDeltaMicroseconds', type: 'unsigned' },
  { id: 159, name: 'flowEndDeltaMicroseconds', type: 'unsigned' },
  { id: 160, name: 'systemInitTimeMilliseconds', type: 'dateTimeMilliseconds' },
  { id: 225, name: 'postNATSourceIPv4Address', type: 'ipv4Address' },
  { id: 226, name: 'postNATDestinationIPv4Address', type: 'ipv4Address' },
  { id: 227, name: 'postNAPTSourceTransportPort', type: 'unsigned' },
  { id: 228, name: 'postNAPTDestinationTransportPort', type: 'unsigned' },
  { id: 230, name: 'natEvent', type: 'unsigned' },
  { id: 231, name: 'initiatorOctets', type: 'unsigned' },
  { id: 232, name: 'responderOctets', type: 'unsigned' },
  { id: 281, name: 'postNATSourceIPv6Address', type: 'ipv6Address' },
  { id: 282, name: 'postNATDestinationIPv6Address', type: 'ipv6Address' },
  { id: 298, name: 'initiatorPackets', type: 'unsigned' },
  { id: 299, name: 'responderPackets', type: 'unsigned' },
  { id: 302, name: 'selectorId', type: 'unsigned' },
  { id: 305, name: 'samplingPacketInterval', type: 'unsigned' },
  { id: 306, name: 'samplingPacketSpace', type: 'unsigned' },
  { id: 309, name: 'samplingSize', type: 'unsigned' },
  { id: 310, name: 'samplingPopulation', type: 'unsigned' },
  { id: 323, name: 'observationTimeMilliseconds', type: 'dateTimeMilliseconds' },
  { id: 361, name: 'portRangeStart', type: 'unsigned' },
  { id: 362, name: 'portRangeEnd', type: 'unsigned' },
  { id: 363, name: 'portRangeStepSize', type: 'unsigned' },
  { id: 364, name: 'portRangeNumPorts', type: 'unsigned' },
];

const BY_ID = new Map<number, IeInfo>(TABLE.map((e) => [e.id, e]));

/** Private Enterprise Numbers (IANA) named here; elements of other enterprises are skipped unnamed. */
export const PEN = {
  /** Cisco Systems: NBAR/AVC and ASA elements; their numbers are not interpreted, only named. */
  cisco: 9,
  /** Juniper Networks. */
  juniper: 2636,
  /** Citrix NetScaler AppFlow. */
  netscaler: 5951,
  /** CERT Coordination Center (YAF). */
  cert: 6871,
  /** RFC 5103 reverse elements: same element number as the base element, reverse direction. */
  reverse: 29305,
  /** ntop (nProbe). */
  ntop: 35632,
} as const;

const PEN_NAMES = new Map<number, string>([
  [PEN.cisco, 'cisco'],
  [PEN.juniper, 'juniper'],
  [PEN.netscaler, 'netscaler'],
  [PEN.cert, 'cert'],
  [PEN.reverse, 'reverse'],
  [PEN.ntop, 'ntop'],
]);

/** The IANA element with this id, or undefined. */
export function ieInfo(id: number): IeInfo | undefined {
  return BY_ID.get(id);
}

/**
 * A readable name for a field specifier: the IANA name for enterprise 0, `reverse` + the base
 * name for RFC 5103 reverse elements (e.g. `reverseOctetDeltaCount`), `<enterprise>.<id>` for a
 * named enterprise and `pen<N>.<id>` otherwise.
 *
 * @see RFC 5103 §6.1
 */
export function ieName(enterprise: number, id: number): string {
  if (enterprise === 0) return BY_ID.get(id)?.name ?? `ie${id}`;
  if (enterprise === PEN.reverse) {
    const base = BY_ID.get(id)?.name;
    return base ? `reverse${base[0]!.toUpperCase()}${base.slice(1)}` : `reverse.ie${id}`;
  }
  const pen = PEN_NAMES.get(enterprise);
  return pen ? `${pen}.${id}` : `pen${enterprise}.${id}`;
}
