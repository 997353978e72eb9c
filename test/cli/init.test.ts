// agentd init: writes the starter agentd.config.ts, never over an existing one unless --force.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  expectSuccess,
  expectUsageError,
  makeTempDir,
  markEsm,
  parseJson,
  runCli,
  setUpCliTests,
  SRC_INDEX,
} from './run-cli.js';

setUpCliTests();

describe.concurrent('agentd init', () => {
  it('writes agentd.config.ts in the current directory and says where', async () => {
    const dir = makeTempDir();
    const result = await runCli(['init'], { cwd: dir });
    expectSuccess(result);
    const file = join(dir, 'agentd.config.ts');
    expect(result.stdout).toContain(`wrote ${file}`);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('export default defineConfig(');
    expect(text).toContain("from 'agentd'");
  });

  it('refuses to overwrite an existing config: exit 2, one line, file unchanged', async () => {
    const dir = makeTempDir();
    const file = join(dir, 'agentd.config.ts');
    writeFileSync(file, '// mine\n');
    expectUsageError(await runCli(['init'], { cwd: dir }), file, 'already exists', '--force');
    expect(readFileSync(file, 'utf8')).toBe('// mine\n');
  });

  it('overwrites an existing config with --force', async () => {
    const dir = makeTempDir();
    const file = join(dir, 'agentd.config.ts');
    writeFileSync(file, '// mine\n');
    expectSuccess(await runCli(['init', '--force'], { cwd: dir }));
    expect(readFileSync(file, 'utf8')).toContain('export default defineConfig(');
  });

  it('writes a starter that loads and validates as a config', async () => {
    const dir = makeTempDir();
    expectSuccess(await runCli(['init'], { cwd: dir }));
    const file = join(dir, 'agentd.config.ts');
    // 'agentd' resolves only inside the repo; point the starter at the source instead.
    const starter = readFileSync(file, 'utf8');
    expect(starter).toContain("from 'agentd';");
    writeFileSync(file, starter.replace("from 'agentd';", `from ${JSON.stringify(SRC_INDEX)};`));
    markEsm(dir);
    const status = parseJson<{ config: string | null; daemon: unknown }>(
      await runCli(['status', '--json'], { cwd: dir }),
    );
    expect(status.config).toBe(file);
    expect(status.daemon).toBeNull();
  });
});
