/**
 * Re-deciding a report without scanning again: a subscriber directory or NAT mapping given now maps
 * every stored flow to its subscriber again; each stored flow's counter and endpoint evidence is
 * worked out again from what is given now, evidence whose source is not given now staying as written
 * (resolver-log bindings without `--dns-log`, listings from an earlier `--intel` without `--intel`:
 * src/report/redecide.ts, SourcesGiven); metered power is written; then the subscribers are rolled
 * up. All of it in one transaction: the report is either as it was, or wholly re-decided.
 */
import type Database from 'better-sqlite3';
import type { SubscriberMap } from '../aggregate/subscriber.js';
import type { Classifier } from '../classify/classify.js';
import type { FlowRecord } from '../types.js';
import { applyPeerEvidence } from './peers.js';
import { policyRedecide } from './policy-redecide.js';
import { redecideReport, type RedecideResult, type SourcesGiven } from './redecide.js';
import { rebuildSubscribers } from './subscribers.js';
import { withMappedReads } from './mapped.js';
import { clearSettled } from './settle.js';
import { writeDirectory, writePowerReadings } from './writer.js';

export interface RescoreInput {
  classifier: Classifier;
  /**
   * Whether resolver logs (`--dns-log`) and intelligence (`--intel`) were given now, even ones that
   * bound or listed nothing: the evidence of a source given is worked out again from it, that of a
   * source not given stays as written. When absent, told from the classifier (src/report/redecide.ts,
   * sourcesOf), which cannot see an `--intel` that loaded no entry.
   */
  given?: SourcesGiven;
  /** Maps flows to subscribers again (a directory or NAT mapping was given). */
  subscribers?: SubscriberMap | null;
  directory?: { entries: Parameters<typeof writeDirectory>[1]; source: string } | null;
  power?: { readings: Parameters<typeof writePowerReadings>[1]; source: string } | null;
}

export interface RescoreResult extends RedecideResult {
  /** Flows whose subscriber changed. */
  remapped: number;
  peerChanges: number;
}

export function rescoreReport(db: Database.Database, input: RescoreInput): RescoreResult {
  let remapped = 0;
  let peerChanges = 0;
  let r: RedecideResult = { flows: 0, readBack: 0, changed: 0, sessions: 0, endpoints: 0, newProofs: 0 };
  const rescore = db.transaction(() => {
    if (input.directory) writeDirectory(db, input.directory.entries, input.directory.source);
    if (input.power) writePowerReadings(db, input.power.readings, input.power.source);
    const map = input.subscribers;
    if (map) {
      const rows = db.prepare('SELECT id, client, client_port, server, first_seen, subscriber, nat FROM flows').all() as Array<{ id: number; client: string; client_port: number; server: string; first_seen: number; subscriber: string | null; nat: string | null }>;
      const up = db.prepare('UPDATE flows SET subscriber = ?, nat = ? WHERE id = ?');
      for (const f of rows) {
        const who = map.resolve({ client: f.client, clientPort: f.client_port, server: f.server, firstSeen: f.first_seen } as Pick<FlowRecord, 'client' | 'clientPort' | 'server' | 'firstSeen'>);
        if (who.subscriber !== f.subscriber || who.nat !== f.nat) {
          up.run(who.subscriber, who.nat, f.id);
          remapped++;
        }
      }
    }
    r = redecideReport(db, input.classifier, { recompute: true, given: input.given });
    peerChanges = applyPeerEvidence(db, policyRedecide(input.classifier.rules.policy));
    if (peerChanges) r = redecideReport(db, input.classifier, { recompute: false });
    rebuildSubscribers(db);
    // Decided with this command's intelligence, which the next scan's may not be: that scan settles the whole report.
    clearSettled(db);
  });
  withMappedReads(db, () => rescore.immediate());
  return { ...r, remapped, peerChanges };
}
