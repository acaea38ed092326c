/**
 * The compiled-rule cache is keyed by the compiler's own bytes as well as the rules and the version;
 * compiled intel folders are cached beside the rule sets, keyed by the folder's path and bytes.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compilerDigest, compilerDirFor, intelFolderKey, loadCachedIntel, loadCachedRules, MAX_ENTRIES, packageVersions, ruleFilesDigest, storeCachedIntel, storeCachedRules } from '../../src/io/rulecache.js';
import { RuleError } from '../../src/errors.js';
import { loadIntel } from '../../src/rules/intel.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { compileRules } from '../../src/rules/loader.js';
import { ROOT, RULES_DIR } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-rulecache-'));

const files = readRuleFiles(RULES_DIR);
const digest = ruleFilesDigest(files);
const rep = compileRules(files);

describe('compiled-rule cache', () => {
  beforeAll(() => {
    delete process.env.MINERWATCH_NO_RULE_CACHE;
    process.env.XDG_CACHE_HOME = join(tmp, 'cache');
  });

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

  it('counts the modules the compiler imports from outside its folder, and theirs, as the compiler', () => {
    const root = join(tmp, 'closure');
    const compiler = join(root, 'rules');
    mkdirSync(join(root, 'lib'), { recursive: true });
    mkdirSync(compiler);
    writeFileSync(join(compiler, 'loader.js'), "import { parse } from '../lib/ip.js';\nexport const load = parse;\n");
    writeFileSync(join(root, 'lib', 'ip.js'), "export { parse } from './words.js';\n");
    writeFileSync(join(root, 'lib', 'words.js'), 'export const parse = (s) => s.split(".");\n');
    writeFileSync(join(root, 'lib', 'unused.js'), 'export {};\n');
    const before = compilerDigest(compiler);
    // A module imported two steps away changes: another compiler.
    writeFileSync(join(root, 'lib', 'words.js'), 'export const parse = (s) => s.split(":");\n');
    const after = compilerDigest(compiler);
    expect(after).not.toBe(before);
    // A module nothing imports is not part of it.
    writeFileSync(join(root, 'lib', 'unused.js'), 'export const x = 1;\n');
    expect(compilerDigest(compiler)).toBe(after);
  });

  it('names the installed versions of the packages the compiler parses with', () => {
    const version = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    expect(packageVersions()).toBe(`yaml@${version('yaml')},ipaddr.js@${version('ipaddr.js')}`);
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

  const BUNDLE = join(ROOT, 'dist', 'cli');
  it.skipIf(!existsSync(join(BUNDLE, 'minerwatch.js')))('keys the command-line bundle by its own files, which hold the compiler', () => {
    // Module by module, the compiler is the rules folder beside the caching module's folder.
    expect(compilerDirFor(join(ROOT, 'src', 'io'))).toBe(join(ROOT, 'src', 'rules'));
    expect(compilerDirFor(join(ROOT, 'dist', 'src', 'io'))).toBe(join(ROOT, 'dist', 'src', 'rules'));
    // The bundle has no such folder: its files are the compiler (not a folder that cannot be read,
    // whose digest would stay the same whatever the bundle holds).
    expect(compilerDirFor(BUNDLE)).toBe(BUNDLE);
    const copy = join(tmp, 'bundle');
    mkdirSync(copy);
    const names = readdirSync(BUNDLE);
    for (const n of names) copyFileSync(join(BUNDLE, n), join(copy, n));
    const before = compilerDigest(copy);
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    // The file that holds the rule compiler changes by one byte: another compiler.
    const holder = names.find((n) => readFileSync(join(copy, n), 'utf8').includes('function compileRules('));
    expect(holder).toBeDefined();
    const bytes = readFileSync(join(copy, holder!));
    bytes[bytes.length - 2]! ^= 1;
    writeFileSync(join(copy, holder!), bytes);
    expect(compilerDigest(copy)).not.toBe(before);
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

describe('compiled intel cache', () => {
  const yaml = (pool: string, ip: string): string => `source: "test list"\nadded: 2026-11-01\nkind: pool\nentries:\n  - { ip: "${ip}", port: 3333, pool: "${pool}" }\n  - { domain: "pool.example", pool: "${pool}" }\n`;
  const none = { exclude: (): boolean => false };

  it('serves a folder read before, unchanged, from the cache, and compiles it again when it changes', () => {
    process.env.XDG_CACHE_HOME = join(tmp, 'intel-cache');
    delete process.env.MINERWATCH_NO_RULE_CACHE;
    const dir = join(tmp, 'intel');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), yaml('first pool', '192.0.2.10'));
    const compiled = loadIntel([dir], none);
    expect(compiled.entries.map((e) => e.pool)).toEqual(['first pool', 'first pool']);
    expect(compiled.entries[0]!.origin).toEqual({ file: join(dir, 'a.yaml'), line: 5 });
    const cacheDir = join(tmp, 'intel-cache', 'minerwatch');
    const stored = readdirSync(cacheDir).filter((n) => n.startsWith('intel-'));
    expect(stored).toHaveLength(1);
    // The stored entry is what the next load returns: changed in the cache, the change shows.
    const key = intelFolderKey(dir, ruleFilesDigest(readRuleFiles(dir)));
    expect(loadCachedIntel(key)).toEqual(compiled.entries);
    const path = join(cacheDir, stored[0]!);
    const o = JSON.parse(readFileSync(path, 'utf8')) as { entries: Array<{ pool: string }> };
    for (const e of o.entries) e.pool = 'from the cache';
    writeFileSync(path, JSON.stringify(o));
    const hit = loadIntel([dir], none);
    expect(hit.entries.map((e) => e.pool)).toEqual(['from the cache', 'from the cache']);
    expect(hit.sources[0]!.sha256).toBe(compiled.sources[0]!.sha256);
    // Exclusions apply to cached entries as to compiled ones.
    const excluded = loadIntel([dir], { exclude: (a) => a === '192.0.2.10' });
    expect(excluded.entries.map((e) => e.match)).toEqual([{ domain: 'pool.example' }]);
    expect(excluded.sources[0]!.skipped).toBe(1);
    // One byte changed in the folder: compiled again, stored as another entry.
    writeFileSync(join(dir, 'a.yaml'), yaml('second pool', '192.0.2.10'));
    expect(loadIntel([dir], none).entries.map((e) => e.pool)).toEqual(['second pool', 'second pool']);
    expect(readdirSync(cacheDir).filter((n) => n.startsWith('intel-'))).toHaveLength(2);
    // The same files at another path are another entry (each entry names its file).
    const copy = join(tmp, 'intel-copy');
    mkdirSync(copy);
    writeFileSync(join(copy, 'a.yaml'), yaml('second pool', '192.0.2.10'));
    expect(loadIntel([copy], none).entries[0]!.origin.file).toBe(join(copy, 'a.yaml'));
    // Another compiler never reads this one's entry.
    expect(loadCachedIntel(key, 'f'.repeat(64))).toBeNull();
    // With the cache turned off, nothing is read from it.
    process.env.MINERWATCH_NO_RULE_CACHE = '1';
    writeFileSync(path, JSON.stringify(o));
    writeFileSync(join(dir, 'a.yaml'), yaml('first pool', '192.0.2.10'));
    expect(loadIntel([dir], none).entries.map((e) => e.pool)).toEqual(['first pool', 'first pool']);
    delete process.env.MINERWATCH_NO_RULE_CACHE;
  });

  it('caches no folder with an invalid file, which fails with its file and line every time', () => {
    process.env.XDG_CACHE_HOME = join(tmp, 'intel-bad');
    const dir = join(tmp, 'intel-invalid');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), yaml('a pool', '192.0.2.11'));
    writeFileSync(join(dir, 'b.yaml'), 'source: "x"\nadded: 2026-11-01\nkind: pool\nentries:\n  - { ip: "not an address", port: 3333, pool: "p" }\n');
    for (let i = 0; i < 2; i++) {
      const e = (() => {
        try {
          loadIntel([dir], none);
        } catch (x) {
          return x;
        }
        return null;
      })();
      expect(e).toBeInstanceOf(RuleError);
      expect((e as RuleError).file).toBe(join(dir, 'b.yaml'));
      expect((e as RuleError).line).toBe(5);
    }
    const cacheDir = join(tmp, 'intel-bad', 'minerwatch');
    expect(existsSync(cacheDir) ? readdirSync(cacheDir).filter((n) => n.startsWith('intel-')) : []).toEqual([]);
  });

  it('keeps at most MAX_ENTRIES intel entries, beside as many rule sets', () => {
    process.env.XDG_CACHE_HOME = join(tmp, 'intel-bounded');
    const dir = join(tmp, 'intel-bounded', 'minerwatch');
    const own = compilerDigest();
    const t0 = Date.now() / 1000 - 10_000;
    for (let i = 0; i < MAX_ENTRIES; i++) {
      storeCachedRules({ ...rep.ruleSet, digest: `${i}`.padStart(64, 'r') }, '9.9.5', own);
      for (const n of readdirSync(dir)) utimesSync(join(dir, n), t0 + i, t0 + i);
    }
    for (let i = 0; i <= MAX_ENTRIES; i++) storeCachedIntel(`${i}`.padStart(64, 'k'), [], own);
    const names = readdirSync(dir);
    expect(names.filter((n) => n.startsWith('intel-'))).toHaveLength(MAX_ENTRIES);
    // The intel entries did not push any rule set out.
    expect(names.filter((n) => n.startsWith('rules-'))).toHaveLength(MAX_ENTRIES);
  });
});
