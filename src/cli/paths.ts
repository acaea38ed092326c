/** Locations inside the installed package (works from src/ under vitest and from dist/ when built). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'rules'))) return d;
    d = dirname(d);
  }
  return process.cwd();
}

export const PACKAGE_ROOT = packageRoot();
export const DEFAULT_RULES_DIR = join(PACKAGE_ROOT, 'rules');

export function toolVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
