/**
 * NetFlow v5/v9 times are milliseconds of the exporter's sysUptime, a 32-bit counter that wraps
 * every 49.7 days; the header gives the uptime and the Unix time at export (RFC 3954 §5.1).
 */

/** A record time may lie this far after its export (exporters stamp the header a little early) and still be read as such. */
const FUTURE_SLACK_MS = 3_600_000;

/**
 * How long before the export (ms) a time of `t` uptime ms lies, when the header says `sysUptime`.
 * The 32-bit difference is read as signed, so a counter that wrapped between the two still gives a
 * small age; but a time that would then lie more than an hour after its own export — it cannot —
 * is read unsigned, as the literal uptime before the export (nfdump's reading). That happens when
 * an exporter's uptime is past 24.8 days and a record's time is far before it.
 */
export function uptimeAgeMs(sysUptime: number, t: number): number {
  const age = (sysUptime - t) | 0;
  return age < -FUTURE_SLACK_MS ? age + 4294967296 : age;
}
