/**
 * The matchers in the order their evidence is listed: protocol messages, handshakes, names the
 * client used (SNI, SOCKS, HTTP Host), names resolved for the server (DNS answers, queries), then
 * what the counters and endpoints say (resolver logs, listed addresses, pool port, behaviour).
 */
import type { RuleSet } from '../../rules/schema.js';
import type { FlowFacts, Matcher } from '../matcher.js';
import { listedAddress } from './address.js';
import { behaviourScore } from './behaviour.js';
import { dnsAnswerName } from './dnsanswer.js';
import { resolverLogBinding } from './dnslog.js';
import { dnsQueryNames } from './dnsquery.js';
import { handshakeSignatures } from './handshake.js';
import { httpHostName } from './host.js';
import { httpSignatures } from './http.js';
import { jsonSignatures } from './json.js';
import { miningPort } from './port.js';
import { messageSides } from './sides.js';
import { tlsServerName } from './sni.js';
import { socksName, socksStreams } from './socks.js';

/** Matchers of a flow's counters and endpoints alone (also run on flows stored in a report). */
export function flowMatchers(rules: RuleSet): Array<Matcher<FlowFacts>> {
  return [resolverLogBinding, listedAddress, miningPort, behaviourScore(rules.policy.behaviour)].filter((m) => m !== null);
}

/** Every matcher the rule set has data for, in evidence order. */
export function classifyMatchers(rules: RuleSet): Matcher[] {
  return [
    socksStreams,
    jsonSignatures(rules),
    httpSignatures(rules),
    messageSides,
    handshakeSignatures(rules),
    tlsServerName,
    socksName,
    httpHostName,
    dnsAnswerName,
    dnsQueryNames,
    ...flowMatchers(rules),
  ].filter((m) => m !== null);
}
