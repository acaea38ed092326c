/**
 * Bundles the command-line program into dist/cli, from what tsc emitted into dist/src. Part of
 * `npm run build` (`tsc -p tsconfig.json && node dist/scripts/bundle.js`).
 *
 * Why: Node loads a scan's ~135 modules one at a time, resolving, reading and linking each: about
 * 110 of the 250 ms an empty scan took. Bundled, they load in about half that (README,
 * "Performance"). The library (dist/src, what `import('minerwatch')` gives) is not bundled.
 *
 * The worker threads' scripts are entries of the same bundle, written beside its other files: the
 * code that starts them looks for them beside itself (`new URL('./writer-thread.js',
 * import.meta.url)`), and in the bundle that is dist/cli. Packages and node: builtins stay imports,
 * loaded from node_modules as before. A warning of the bundler fails the build.
 *
 * A build may run while the program runs (a test file rebuilds while others start the CLI): each
 * file is written under a temporary name and renamed over the old one, the shared pieces (named by
 * their content's hash) before the entries that import them, and only then are pieces no entry
 * imports any more removed. A process starting meanwhile loads the old bundle or the new one whole.
 */
import { build, type RolldownLog } from 'rolldown';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { PACKAGE_ROOT } from '../src/cli/paths.js';

/** The entries: the program, and the scripts of the threads it starts (named as the code that starts them names them). */
const ENTRIES = {
  minerwatch: 'dist/src/cli/main.js',
  'writer-thread': 'dist/src/report/writer-thread.js',
  'scan-worker': 'dist/src/cli/scan-worker.js',
};

async function main(): Promise<number> {
  const dir = join(PACKAGE_ROOT, 'dist', 'cli');
  const warnings: string[] = [];
  const out = await build({
    cwd: PACKAGE_ROOT,
    input: ENTRIES,
    platform: 'node',
    // Only the project's own modules (imported by relative path) go in.
    external: (id: string) => !id.startsWith('.') && !isAbsolute(id),
    onLog: (level: string, log: RolldownLog) => {
      if (level === 'warn') warnings.push(`${log.code ?? 'WARNING'}: ${log.message}`);
    },
    write: false,
    output: {
      format: 'esm',
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
      // Function and class names as written: error names and stack traces read as in the sources.
      keepNames: true,
    },
  });
  for (const w of warnings) process.stderr.write(`bundle: ${w}\n`);
  if (warnings.length) return 1;
  const files = out.output.map((f) => ({ name: f.fileName, text: f.type === 'chunk' ? f.code : f.source, entry: f.type === 'chunk' && f.isEntry }));
  // Every entry under the name its starters look for, before anything of the bundle there is replaced.
  const lacking = Object.keys(ENTRIES).filter((e) => !files.some((f) => f.entry && f.name === `${e}.js`));
  if (lacking.length) {
    process.stderr.write(`bundle: no ${lacking.map((e) => `${e}.js`).join(', ')} among the bundler's output; ${dir} left as it was\n`);
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  // Pieces first, entries last: an entry never names a piece not yet written.
  files.sort((a, b) => Number(a.entry) - Number(b.entry));
  for (const f of files) {
    const tmp = join(dir, `.${f.name}.${process.pid}.tmp`);
    writeFileSync(tmp, f.text);
    renameSync(tmp, join(dir, f.name));
  }
  const keep = new Set(files.map((f) => f.name));
  // Pieces of an earlier build (not another build's temporary files: two builds may run at once).
  for (const name of readdirSync(dir)) if (!keep.has(name) && name.endsWith('.js')) rmSync(join(dir, name), { force: true });
  return 0;
}

process.exitCode = await main();
