/**
 * The published package: `npm pack` ships the library and the CLI and nothing of the tests (their
 * support modules included), bench or scripts; installed into a fresh project, `import('minerwatch')`
 * gives the documented API and scans a capture with the bundled rules, and its CLI runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from './helpers.js';

const BUILT = existsSync(join(ROOT, 'dist', 'src', 'index.js'));
if (!BUILT) console.warn('skipping the package test: dist/ is not built (npm run build)');
const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!BUILT)('the npm package', () => {
  it('packs only what users need, and a project that installs it imports the API and runs the CLI', () => {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8' })) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/src/index.d.ts');
    expect(files).toContain('bin/minerwatch');
    // The command-line bundle (scripts/bundle.ts) with its threads' scripts beside it.
    for (const f of ['minerwatch.js', 'writer-thread.js', 'scan-worker.js']) expect(files).toContain(`dist/cli/${f}`);
    expect(files.some((f) => f.startsWith('rules/'))).toBe(true);
    expect(files.filter((f) => /^(dist\/(bench|scripts|tests)|dist\/src\/testing|tests|fixtures|bench|scripts|src)\//.test(f))).toEqual([]);
    // No test support (tests/support: packet builders, fuzz targets, the seeded PRNG) under any name.
    expect(files.filter((f) => /(^|\/)(support|testing)\/|(^|\/)(builders|fuzz|random)\.(js|d\.ts|js\.map)$/.test(f))).toEqual([]);

    // A fresh project: the tarball unpacked as node_modules/minerwatch, its dependencies linked from this checkout (no network).
    const proj = join(tmp, 'proj');
    const nm = join(proj, 'node_modules');
    mkdirSync(join(nm, 'minerwatch'), { recursive: true });
    execFileSync('tar', ['-xzf', join(tmp, packed[0]!.filename), '-C', join(nm, 'minerwatch'), '--strip-components=1']);
    // Nor does any shipped module import it: a library file that did would fail to load once installed.
    const shipped = files.filter((f) => /\.(js|d\.ts)$/.test(f));
    expect(shipped.filter((f) => /tests\/support\/|\/testing\/|mulberry32/.test(readFileSync(join(nm, 'minerwatch', f), 'utf8')))).toEqual([]);
    for (const dep of readdirSync(join(ROOT, 'node_modules'))) if (!dep.startsWith('.') && dep !== 'minerwatch') symlinkSync(join(ROOT, 'node_modules', dep), join(nm, dep));
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'user-project', type: 'module', private: true }));
    const capture = join(FIXTURES, 'demo', 'home-miners.pcapng');
    writeFileSync(
      join(proj, 'use.mjs'),
      `import * as mw from 'minerwatch';
import { createRequire } from 'node:module';
const { ruleSet } = mw.loadRules(mw.DEFAULT_RULES_DIR);
const mining = [];
const s = await mw.scanInputs([${JSON.stringify(capture)}], ruleSet, (f, v) => { if (v.label === 'mining') mining.push(f.client + ' ' + f.server + ':' + f.serverPort); });
const deep = (() => { try { createRequire(import.meta.url).resolve('minerwatch/dist/src/scan.js'); return 'reachable'; } catch (e) { return e.code; } })();
console.log(JSON.stringify({ exports: Object.keys(mw).sort(), flows: s.flows, mining: mining.sort(), rulesDir: mw.DEFAULT_RULES_DIR, schema: mw.SCHEMA_VERSION, deep }));
`,
    );
    const out = JSON.parse(execFileSync(process.execPath, ['use.mjs'], { cwd: proj, encoding: 'utf8' })) as { exports: string[]; flows: number; mining: string[]; rulesDir: string; schema: number; deep: string };
    for (const name of ['scanInputs', 'loadRules', 'readCapture', 'readDnsLog', 'FlowExportDecoder', 'Classifier', 'openReport', 'ReportWriter', 'summarize', 'iterateWatchlist', 'incompleteInputs', 'InputError', 'Anomalies', 'formatIpv6'])
      expect(out.exports).toContain(name);
    // The bundled rules come from the installed package, not from this checkout.
    expect(out.rulesDir).toBe(join(nm, 'minerwatch', 'rules'));
    expect(out.flows).toBeGreaterThan(0);
    expect(out.mining.length).toBeGreaterThan(0);
    // Only the package's entry points are public: inner modules are not importable by path.
    expect(out.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    // The CLI of the installed package scans into a report, from its bundle: the threads it starts
    // (two scan workers, the report's writer) run the bundle's scripts, found beside it. A hook in
    // every thread records the scripts the Workers are made with.
    writeFileSync(
      join(proj, 'threads.mjs'),
      `import wt from 'node:worker_threads';
import { syncBuiltinESMExports } from 'node:module';
import { appendFileSync } from 'node:fs';
const Base = wt.Worker;
wt.Worker = class extends Base {
  constructor(script, options) {
    super(script, options);
    appendFileSync(${JSON.stringify(join(proj, 'threads.txt'))}, (options && options.eval ? '(inline source)' : String(script)) + '\\n');
  }
};
syncBuiltinESMExports();
`,
    );
    writeFileSync(join(proj, 'threads.txt'), '');
    const cli = execFileSync(process.execPath, [join(nm, 'minerwatch', 'bin', 'minerwatch'), 'scan', capture, '--db', join(proj, 'r.sqlite'), '--workers', '2'], {
      cwd: proj,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: `--import=${join(proj, 'threads.mjs')}` },
    });
    expect(cli).toMatch(/subscriber\(s\) with mining evidence/);
    const scripts = readFileSync(join(proj, 'threads.txt'), 'utf8').split('\n').filter((l) => l && l !== '(inline source)').sort();
    const bundle = pathToFileURL(join(nm, 'minerwatch', 'dist', 'cli')).href;
    expect(scripts).toEqual([`${bundle}/scan-worker.js`, `${bundle}/scan-worker.js`, `${bundle}/writer-thread.js`]);
  }, 120_000);
});
