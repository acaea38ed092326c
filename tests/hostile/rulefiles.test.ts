/**
 * Hostile and broken rule files: every one is refused with `file:line: ...` and exit 1 through the
 * real CLI, cheaply (the cost is bounded before the YAML parser runs), and never as an internal error.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { compileRules } from '../../src/rules/loader.js';
import { mulberry32 } from '../support/random.js';
import { FIXTURES, RULES_DIR } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-hostile-rules-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const CAPTURE = join(FIXTURES, 'demo', 'office.pcap');

let n = 0;
/** A copy of the bundled rules with `file` replaced by `body`. */
function rulesWith(file: string, body: string | Uint8Array): string {
  const dir = join(tmp, `rules-${n++}`);
  cpSync(RULES_DIR, dir, { recursive: true });
  writeFileSync(join(dir, file), body);
  return dir;
}

async function scan(rules: string): Promise<{ rc: number; err: string }> {
  let err = '';
  const rc = await main(['scan', CAPTURE, '--rules', rules, '--db', join(tmp, `r-${n++}.sqlite`)], { out: () => undefined, err: (s) => (err += s) });
  return { rc, err };
}

const SIG = 'signatures/monero.yaml';
const bombLines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
for (const [i, c] of ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].entries()) bombLines.push(`${c}: &${c} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`);

/** [name, file, body, line the message must name, text it must contain]. */
const CASES: Array<[string, string, string | Uint8Array, number, RegExp]> = [
  ['unresolved alias', SIG, 'family: monero\nrules:\n  - *nope\n', 3, /alias \*nope has no anchor/],
  ['alias bomb', SIG, bombLines.join('\n') + '\n', 1, /aliases expand more than/],
  ['!!js/function tag', SIG, 'family: monero\nrules: !!js/function "function(){}"\n', 2, /Unresolved tag/],
  ['unknown local tag', SIG, 'family: !foo monero\nrules: []\n', 1, /Unresolved tag/],
  ['deep flow nesting', SIG, 'family: monero\nrules: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n', 2, /nested more than 64 deep/],
  ['2 MiB line of {', SIG, 'family: monero\nrules: ' + '{'.repeat(2 << 20) + '\n', 2, /nested more than 64 deep|line is \d+ characters long/],
  ['huge scalar', SIG, 'family: monero\ndescription: "' + 'x'.repeat(200_000) + '"\n', 2, /line is \d+ characters long/],
  ['file over 4 MiB', 'endpoints/pools.yaml', '# x\n'.repeat(1_200_000), 1, /a rule file holds at most/],
  ['binary junk', SIG, new Uint8Array([0x66, 0x61, 0x3a, 0x0a, 0x00, 0x01, 0x02, 0xff, 0xfe, 0x80, 0x0a]), 2, /control character 0x00/],
  ['invalid UTF-8', SIG, new Uint8Array([0x66, 0x3a, 0x20, 0xc3, 0x28, 0x0a]), 1, /not UTF-8/],
  ['duplicate key', SIG, 'family: monero\nfamily: xmr\nrules: []\n', 2, /unique|Map keys/i],
];

describe('hostile rule files', () => {
  for (const [name, file, body, line, msg] of CASES) {
    it(`${name}: exit 1, ${file}:${line}: on stderr, cheaply`, async () => {
      const dir = rulesWith(file, body);
      const t = performance.now();
      const { rc, err } = await scan(dir);
      const ms = performance.now() - t;
      expect(err).not.toMatch(/internal error/);
      expect(rc, err).toBe(1);
      expect(err).toContain(`${file}:${line}: `);
      expect(err).toMatch(msg);
      // Bounded before parsing: the whole scan (with ~12,000 lines of bundled endpoint rules) stays fast.
      expect(ms).toBeLessThan(5_000);
    });
  }

  it('the 2 MiB `{` line is refused in milliseconds by the compiler itself', () => {
    const dir = rulesWith(SIG, 'family: monero\nrules: ' + '{'.repeat(2 << 20) + '\n');
    const files = readRuleFiles(dir).filter((f) => f.path === SIG);
    const t = performance.now();
    const rep = compileRules(files);
    expect(performance.now() - t).toBeLessThan(200);
    expect(rep.errors[0]?.message).toMatch(/^signatures\/monero\.yaml:2: \(file\): (collections nested|line is)/);
  });

  it('a BOM and CRLF line ends are read as the same rules', () => {
    const text = readFileSync(join(RULES_DIR, SIG), 'utf8');
    const plain = compileRules(readRuleFiles(RULES_DIR));
    const dir = rulesWith(SIG, '\uFEFF' + text.replace(/\n/g, '\r\n'));
    const crlf = compileRules(readRuleFiles(dir));
    expect(crlf.errors).toEqual([]);
    expect(crlf.ruleSet.payload.map((r) => `${r.id}@${r.rev}`)).toEqual(plain.ruleSet.payload.map((r) => `${r.id}@${r.rev}`));
  });

  it('seeded mutations of the bundled rule files: the compiler never throws, every error names file and line', () => {
    const files = readRuleFiles(RULES_DIR);
    const rnd = mulberry32(0x5eed);
    const int = (k: number) => Math.floor(rnd() * k);
    let withErrors = 0;
    for (let i = 0; i < 150; i++) {
      const idx = int(files.length);
      const f = files[idx]!;
      const text = mutateText(f.text, rnd);
      const one = [{ path: f.path, text }, ...files.filter((g) => g.path === 'policy.yaml' && g !== f)];
      const rep = compileRules(one);
      if (rep.errors.length) withErrors++;
      for (const e of rep.errors) {
        expect(e.line, e.message).toBeGreaterThanOrEqual(1);
        expect(e.message).toMatch(/^[^:]+:\d+: /);
      }
    }
    expect(withErrors).toBeGreaterThan(10);
  });

  it('seeded mutations through `scan`: exit 0, 1 or 2, and a message on stderr whenever it is not 0', async () => {
    const rnd = mulberry32(0xbadf00d);
    const files = readRuleFiles(RULES_DIR).filter((f) => !f.path.startsWith('endpoints/'));
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      const f = files[Math.floor(rnd() * files.length)]!;
      const { rc, err } = await scan(rulesWith(f.path, mutateText(f.text, rnd)));
      codes.push(rc);
      expect(err).not.toMatch(/internal error/);
      expect([0, 1, 2]).toContain(rc);
      if (rc !== 0) expect(err.trim(), `${f.path} #${i}`).not.toBe('');
    }
    expect(codes).toContain(1);
  }, 60_000);
});

/** Byte flips, truncation, line deletion or duplication: the mutations the issue's campaign used. */
export function mutateText(text: string, rnd: () => number): string {
  const int = (k: number) => Math.floor(rnd() * k);
  const kind = int(4);
  if (kind === 0) {
    const b = Buffer.from(text, 'utf8');
    for (let k = 0, m = 1 + int(4); k < m && b.length; k++) {
      const at = int(b.length);
      b[at] = b[at]! ^ (1 + int(255));
    }
    return b.toString('utf8');
  }
  if (kind === 1) return text.slice(0, int(text.length + 1));
  const lines = text.split('\n');
  const at = int(lines.length);
  if (kind === 2) lines.splice(at, 1);
  else lines.splice(at, 0, lines[at]!);
  return lines.join('\n');
}
