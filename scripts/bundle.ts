/**
 * Bundles the command-line program into dist/cli, from what tsc emitted into dist/src. Part of
 * `npm run build` (`tsc -p tsconfig.json && node dist/scripts/bundle.js`).
 *
 * Why: Node loads a scan's ~135 modules one at a time, resolving, reading and linking each. That
 * took about 110 of the 250 ms an empty scan takes, and bundled they load in about half that
 * (README, "Start-up"). The library (dist/src, what `import('minerwatch')` gives) is not bundled.
 *
 * The worker threads' scripts are entries of the same bundle, written beside its other files: the
 * code that starts them looks for them beside itself (`new URL('./writer-thread.js',
 * import.meta.url)`), and in the bundle that is dist/cli. Packages and node: builtins stay imports,
 * loaded from node_modules as before. A warning of the bundler fails the build.
 */
import { build, type RolldownLog } from 'rolldown';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/cli/paths.js';

/** The bundle's folder, under the package root. */
export const CLI_BUNDLE_DIR = join('dist', 'cli');

/** The entries: the program, and the scripts of the threads it starts (named as the code that starts them names them). */
const ENTRIES = {
  minerwatch: 'dist/src/cli/main.js',
  'writer-thread': 'dist/src/report/writer-thread.js',
  'scan-worker': 'dist/src/cli/scan-worker.js',
};

async function main(): Promise<number> {
  const warnings: string[] = [];
  await build({
    cwd: PACKAGE_ROOT,
    input: ENTRIES,
    platform: 'node',
    // Only the project's own modules (imported by relative path) go in.
    external: (id: string) => !id.startsWith('.') && !id.startsWith('/'),
    onLog: (level: string, log: RolldownLog) => {
      if (level === 'warn') warnings.push(`${log.code ?? 'WARNING'}: ${log.message}`);
    },
    output: {
      dir: join(PACKAGE_ROOT, CLI_BUNDLE_DIR),
      format: 'esm',
      cleanDir: true,
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
      // Function and class names as written: error names and stack traces read as in the sources.
      keepNames: true,
    },
  });
  for (const w of warnings) process.stderr.write(`bundle: ${w}\n`);
  return warnings.length ? 1 : 0;
}

process.exitCode = await main();
