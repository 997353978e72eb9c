// Finds and loads agentd.config.ts (or .mts/.js/.mjs) without a build step, then validates it.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { validateConfig, type ResolvedConfig } from '../core/config.js';
import { ValidationError } from '../core/errors.js';

export const CONFIG_NAMES = [
  'agentd.config.ts',
  'agentd.config.mts',
  'agentd.config.js',
  'agentd.config.mjs',
];

export interface LoadedConfig {
  config: ResolvedConfig;
  /** The file it came from; undefined when none exists and defaults apply. */
  file: string | undefined;
  /** The directory relative paths in the config are resolved against. */
  baseDir: string;
}

/** Finds the config: an explicit path must exist; otherwise the first default name in `cwd`. */
export function findConfig(explicit: string | undefined, cwd: string): string | undefined {
  if (explicit !== undefined) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) throw new ValidationError(`config file not found: ${file}`);
    return file;
  }
  return CONFIG_NAMES.map((name) => resolve(cwd, name)).find((file) => existsSync(file));
}

export async function loadConfig(
  explicit: string | undefined,
  cwd = process.cwd(),
): Promise<LoadedConfig> {
  const file = findConfig(explicit, cwd);
  if (file === undefined) return { config: validateConfig({}, '(defaults)'), file, baseDir: cwd };
  let mod: { default?: unknown };
  try {
    mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as typeof mod;
  } catch (error) {
    throw new ValidationError(`${file}: could not be loaded: ${loadFailure(error)}`);
  }
  // A config compiled as CommonJS (no "type": "module" nearby) arrives as module.exports: its
  // default export sits one level down, and its named exports are not a config.
  let raw = mod.default;
  if (isCommonJsExports(raw)) raw = raw.default;
  if (raw === undefined) {
    throw new ValidationError(
      `${file}: expected a default export, e.g. export default defineConfig({ routes: [...] })`,
    );
  }
  return { config: validateConfig(raw, file), file, baseDir: dirname(file) };
}

function isCommonJsExports(value: unknown): value is { default?: unknown } {
  return typeof value === 'object' && value !== null && '__esModule' in value;
}

// esbuild's transform errors put the useful part (file:line: message) after a summary line.
function loadFailure(error: unknown): string {
  const lines = (error instanceof Error ? error.message : String(error))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^Transform failed with \d+ errors?:?$/.test(line));
  return lines.slice(0, 3).join(' | ') || 'unknown error';
}

/** Where the store lives: --data-dir, else the config's dataDir, else `.agentd` beside the config. */
export function resolveDataDir(
  loaded: LoadedConfig,
  override: string | undefined,
  cwd = process.cwd(),
): string {
  if (override !== undefined) return resolve(cwd, override);
  return resolve(loaded.baseDir, loaded.config.dataDir ?? '.agentd');
}
