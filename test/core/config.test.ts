// Config validation: a bad config names the file, the path of the bad key and what was expected.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveDataDir } from '../../src/config/load-config.js';
import { validateConfig } from '../../src/core/config.js';
import { on } from '../../src/core/route.js';

const handler = () => undefined;
const srcIndex = resolve(import.meta.dirname, '../../src/index.ts');

function messageOf(raw: unknown): string {
  try {
    validateConfig(raw, 'agentd.config.ts');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected validation to fail');
}

describe('validateConfig', () => {
  it('accepts routes and names them after their patterns', () => {
    const config = validateConfig(
      { routes: [on('a.*', { handler }), on(['b', 'c'], { handler, name: 'bc' })] },
      'f',
    );
    expect(config.routes.map((r) => r.name)).toEqual(['a.*', 'bc']);
  });

  it('names the file, the key path and the expectation', () => {
    expect(messageOf({ routes: [{ types: ['a'], handler: 'nope' }] })).toMatch(
      /^agentd\.config\.ts: routes\[0\]\.handler: expected a function \(event, ctx\) => \.\.\., got the string "nope"/,
    );
    expect(messageOf({ server: { port: 'x' } })).toMatch(/server\.port: .*expected number/);
    expect(messageOf({ routes: [on('a', { handler, concurrency: 0 })] })).toMatch(
      /routes\[0\]\.concurrency: /,
    );
    expect(messageOf({ routes: [on('a..b', { handler })] })).toMatch(
      /routes\[0\]\.types\[0\]: .*segment ""/,
    );
    expect(messageOf({ durability: 'disk' })).toMatch(/durability: .*"process"/);
  });

  it('rejects unknown keys instead of ignoring a typo', () => {
    expect(messageOf({ rotues: [] })).toMatch(/rotues/);
    expect(messageOf({ routes: [{ ...on('a', { handler }), retry: {} }] })).toMatch(
      /routes\[0\].*retry/,
    );
  });

  it('rejects two routes with one name', () => {
    expect(messageOf({ routes: [on('a', { handler }), on('a', { handler })] })).toMatch(
      /routes\[1\]\.name: "a" is already used by routes\[0\]/,
    );
  });
});

describe('loadConfig', () => {
  it('loads a TypeScript config without a build step and resolves dataDir beside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-config-'));
    writeFileSync(
      join(dir, 'agentd.config.ts'),
      `import { defineConfig, on } from ${JSON.stringify(srcIndex)};\n` +
        `const n: number = 3;\nexport default defineConfig({ dataDir: 'store', routes: [on('x.y', { handler: () => n })] });\n`,
    );
    const loaded = await loadConfig(undefined, dir);
    expect(loaded.file).toBe(join(dir, 'agentd.config.ts'));
    expect(loaded.config.routes[0]?.name).toBe('x.y');
    expect(resolveDataDir(loaded, undefined)).toBe(join(dir, 'store'));
    expect(resolveDataDir(loaded, 'elsewhere', '/tmp')).toBe('/tmp/elsewhere');
  });

  it('reports a config that does not compile with its file name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-config-'));
    writeFileSync(join(dir, 'agentd.config.mjs'), 'export default {{{;\n');
    await expect(loadConfig(undefined, dir)).rejects.toThrow(
      /agentd\.config\.mjs: could not be loaded/,
    );
  });

  it('reports a missing explicit config and a missing default export', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-config-'));
    await expect(loadConfig('nope.ts', dir)).rejects.toThrow(/config file not found: .*nope\.ts/);
    writeFileSync(join(dir, 'agentd.config.mjs'), 'export const x = 1;\n');
    await expect(loadConfig(undefined, dir)).rejects.toThrow(/expected a default export/);
  });

  it('falls back to defaults when no config file exists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-config-'));
    const loaded = await loadConfig(undefined, dir);
    expect(loaded.file).toBeUndefined();
    expect(loaded.config.routes).toEqual([]);
  });
});
