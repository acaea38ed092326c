/**
 * What the JSON-RPC methods of the mining protocol dialects mean for share accounting: which
 * method submits a share, which sets the work a share is worth, which only proves a mining session.
 * Protocol facts, not detection (classification stays with the signatures in rules/).
 *
 * - Stratum V1 (and EthereumStratum/1.0.0, which reuses its methods): `mining.set_difficulty [d]`
 *   (difficulty units, turned into hashes later by the algorithm's multiplier), `mining.set_target
 *   [hex]` (Equihash; a 256-bit target), `mining.submit`.
 * - EthereumStratum/2.0.0: `mining.hello`, `mining.set {target, algo}`, `mining.submit`.
 * - CryptoNote (XMRig and pools): `login` (its `algo` list names the algorithm; its result carries
 *   the first job), `job` pushes with a compact target, `submit` naming its `job_id`, `keepalived`.
 * - ETHPROXY: `eth_submitLogin`, `eth_getWork`, `eth_submitWork`, and the miner's own
 *   `eth_submitHashrate ["0x…"]` (H/s).
 */

/** The protocol dialects whose methods are understood. */
export type ShareDialect = 'stratum-v1' | 'ethereumstratum-v2' | 'cryptonote' | 'ethproxy';

/**
 * What a method does for the meter: `submit` a share worth the current work; `job-submit` a share
 * naming the job whose target it was worth; `difficulty`, `target`, `work` set the current work
 * (Stratum difficulty, a 256-bit target, EthereumStratum/2.0.0's `{target, algo}`); `job` a
 * CryptoNote job; `login` names the algorithm; `hashrate` the miner's own figure; `session` only
 * shows the connection is a mining session.
 */
export type ShareMethodRole = 'submit' | 'job-submit' | 'difficulty' | 'target' | 'work' | 'job' | 'login' | 'hashrate' | 'session';

/** Method name → its role and the dialect that defines it. */
export const SHARE_METHODS: ReadonlyMap<string, { role: ShareMethodRole; dialect: ShareDialect }> = new Map(
  (
    [
      ['mining.subscribe', 'session', 'stratum-v1'],
      ['mining.authorize', 'session', 'stratum-v1'],
      ['mining.configure', 'session', 'stratum-v1'],
      ['mining.submit', 'submit', 'stratum-v1'],
      ['mining.notify', 'session', 'stratum-v1'],
      ['mining.set_difficulty', 'difficulty', 'stratum-v1'],
      ['mining.set_target', 'target', 'stratum-v1'],
      ['mining.set_extranonce', 'session', 'stratum-v1'],
      ['mining.extranonce.subscribe', 'session', 'stratum-v1'],
      ['mining.hello', 'session', 'ethereumstratum-v2'],
      ['mining.set', 'work', 'ethereumstratum-v2'],
      ['login', 'login', 'cryptonote'],
      ['job', 'job', 'cryptonote'],
      ['submit', 'job-submit', 'cryptonote'],
      ['keepalived', 'session', 'cryptonote'],
      ['eth_submitLogin', 'session', 'ethproxy'],
      ['eth_getWork', 'session', 'ethproxy'],
      ['eth_submitWork', 'submit', 'ethproxy'],
      ['eth_submitHashrate', 'hashrate', 'ethproxy'],
    ] as const
  ).map(([method, role, dialect]) => [method, { role, dialect }]),
);

/** The role of a method, or undefined when no dialect defines it. */
export function shareMethodRole(method: string): ShareMethodRole | undefined {
  return SHARE_METHODS.get(method)?.role;
}

const TWO_256 = 2 ** 256;
const TWO_64 = 2 ** 64;
const TWO_32 = 2 ** 32;
const HEX = /^[0-9a-fA-F]{1,64}$/;
const HEX_ANY = /^[0-9a-fA-F]+$/;

/**
 * Expected hashes per share for a 256-bit big-endian target (`0x…` or bare hex, up to 64 digits):
 * 2^256 / target. NaN when absent or zero.
 */
export function hashesFromTarget256(v: unknown): number {
  if (typeof v !== 'string') return NaN;
  const hex = v.startsWith('0x') || v.startsWith('0X') ? v.slice(2) : v;
  if (!HEX.test(hex)) return NaN;
  // A number: EthereumStratum/2.0.0 sends its target with the leading zeros trimmed.
  const t = Number(BigInt('0x' + hex));
  return t > 0 ? TWO_256 / t : NaN;
}

/**
 * Expected hashes per share for a CryptoNote pool target: 4 bytes little-endian hex (difficulty =
 * 2^32 / t) or 8 bytes (2^64 / t), as XMRig reads it. NaN when malformed or zero.
 */
export function hashesFromCompactTarget(hex: string): number {
  if (hex.length !== 8 && hex.length !== 16) return NaN;
  if (!HEX_ANY.test(hex)) return NaN;
  let t = 0;
  for (let i = hex.length - 2; i >= 0; i -= 2) t = t * 256 + parseInt(hex.slice(i, i + 2), 16);
  if (t === 0) return NaN;
  return (hex.length === 8 ? TWO_32 : TWO_64) / t;
}
