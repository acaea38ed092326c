/** The compiled-rule cache is keyed by the compiler's own bytes as well as the rules and the version. */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compilerDigest, loadCachedRules, MAX_ENTRIES, ruleFilesDigest, storeCachedRules } from '../../src/io/rulecache.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { compileRules } from '../../src/rules/loader.js';
import { ROOT, RULES_DIR } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-rulecache-'));

describe('compiled-rule cache', () => {
  beforeAll(() => {
    delete process.env.MINERWATCH_NO_RULE_CACHE;
    process.env.XDG_CACHE_HOME = join(tmp, 'cache');
  });

  const files = readRuleFiles(RULES_DIR);
  const digest = ruleFilesDigest(files);
  const rep = compileRules(files);

  it('serves a rule set only to the compiler that compiled it', () => {
    expect(rep.errors).toEqual([]);
    // A copy of the real compiler modules stands for "the compiler": one changed byte is another compiler.
    const compiler = join(tmp, 'compiler');
    mkdirSync(compiler);
    const modules = readdirSync(join(ROOT, 'src', 'rules')).filter((n) => n.endsWith('.ts'));
    expect(modules.length).toBeGreaterThan(3);
    for (const n of modules) copyFileSync(join(ROOT, 'src', 'rules', n), join(compiler, n));
    const before = compilerDigest(compiler);
    expect(compilerDigest(compiler)).toBe(before);
    storeCachedRules(rep.ruleSet, '9.9.9', before);
    const hit = loadCachedRules(digest, '9.9.9', before);
    expect(hit?.payload.length).toBe(rep.ruleSet.payload.length);
    expect(hit?.policy.miningPorts).toEqual(rep.ruleSet.policy.miningPorts);

    const target = join(compiler, 'loader.ts');
    const bytes = readFileSync(target);
    bytes[bytes.length - 2]! ^= 1;
    writeFileSync(target, bytes);
    const after = compilerDigest(compiler);
    expect(after).not.toBe(before);
    // Same tool version, same rules, another compiler: a miss, so the rules are compiled again.
    expect(loadCachedRules(digest, '9.9.9', after)).toBeNull();
    // A module added to the compiler is a change too.
    writeFileSync(target, readFileSync(join(ROOT, 'src', 'rules', 'loader.ts')));
    expect(compilerDigest(compiler)).toBe(before);
    writeFileSync(join(compiler, 'extra.js'), 'export {};\n');
    expect(compilerDigest(compiler)).not.toBe(before);
    // The first compiler still gets its own entry.
    expect(loadCachedRules(digest, '9.9.9', before)).not.toBeNull();
  });

  it('keys the running compiler by default, hashed once', () => {
    const own = compilerDigest();
    expect(own).toMatch(/^[0-9a-f]{64}$/);
    expect(compilerDigest()).toBe(own);
    storeCachedRules(rep.ruleSet, '9.9.8');
    expect(loadCachedRules(digest, '9.9.8')?.digest).toBe(digest);
    expect(loadCachedRules(digest, '9.9.8', own)?.digest).toBe(digest);
    expect(loadCachedRules(digest, '9.9.8', 'f'.repeat(64))).toBeNull();
    expect(loadCachedRules(digest, '9.9.7', own)).toBeNull();
  });

  it('keeps the most recently used entries, and no more than MAX_ENTRIES', () => {
    process.env.XDG_CACHE_HOME = join(tmp, 'bounded');
    const dir = join(tmp, 'bounded', 'minerwatch');
    const own = compilerDigest();
    const digests = Array.from({ length: MAX_ENTRIES + 1 }, (_, i) => `${i}`.padStart(64, 'd'));
    const entryOf = (d: string): string => readdirSync(dir).find((n) => n.endsWith(`-${d}.json`)) ?? '';
    const t0 = Date.now() / 1000 - 10_000;
    // A full cache, written oldest first (times set: the file system's clock may not tell them apart).
    for (let i = 0; i < MAX_ENTRIES; i++) {
      storeCachedRules({ ...rep.ruleSet, digest: digests[i]! }, '9.9.6', own);
      utimesSync(join(dir, entryOf(digests[i]!)), t0 + i, t0 + i);
    }
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(MAX_ENTRIES);
    // A hit makes the oldest the most recently used, so the second oldest goes when one more is stored.
    expect(loadCachedRules(digests[0]!, '9.9.6', own)?.digest).toBe(digests[0]);
    // A writer that died an hour ago left a temporary file; one writing now has one too.
    const stale = join(dir, `rules-9.9.6-x-${'e'.repeat(64)}.json.1.tmp`);
    const live = join(dir, `rules-9.9.6-x-${'f'.repeat(64)}.json.2.tmp`);
    writeFileSync(stale, '{');
    writeFileSync(live, '{');
    utimesSync(stale, t0, t0);
    storeCachedRules({ ...rep.ruleSet, digest: digests[MAX_ENTRIES]! }, '9.9.6', own);
    const left = readdirSync(dir);
    expect(left.filter((n) => n.endsWith('.json'))).toHaveLength(MAX_ENTRIES);
    expect(loadCachedRules(digests[1]!, '9.9.6', own)).toBeNull();
    for (const d of [digests[0]!, ...digests.slice(2)]) expect(loadCachedRules(d, '9.9.6', own)?.digest).toBe(d);
    expect(left).not.toContain(`rules-9.9.6-x-${'e'.repeat(64)}.json.1.tmp`);
    expect(left).toContain(`rules-9.9.6-x-${'f'.repeat(64)}.json.2.tmp`);
  });
});
