// agentd start with a bad or missing config: it does not start and says why in one stderr line.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  expectOneLineError,
  expectUsageError,
  makeTempDir,
  runCli,
  setUpCliTests,
  writeConfig,
} from './run-cli.js';

setUpCliTests();

const start = (dir: string, ...args: string[]) =>
  runCli(['start', '--port', '0', ...args], { cwd: dir });

describe.concurrent('agentd start with a bad config', () => {
  it('names the file, routes[0].handler and what was expected for a string handler', async () => {
    const dir = makeTempDir();
    const file = writeConfig(
      dir,
      `export default defineConfig({ routes: [{ types: ['a.b'], handler: 'nope' as never }] });`,
    );
    const result = await start(dir);
    expectOneLineError(
      result,
      file,
      'routes[0].handler',
      'expected a function',
      'got the string "nope"',
    );
    expect(existsSync(join(dir, '.agentd', 'daemon.json'))).toBe(false);
  });

  it('names an unknown key inside a route and where it is', async () => {
    const dir = makeTempDir();
    const file = writeConfig(
      dir,
      `export default { routes: [on('a.b', { handler: () => undefined, retry: 3 } as never)] };`,
    );
    expectOneLineError(await start(dir), file, 'routes[0]', '"retry"');
  });

  it('names an unknown top-level key', async () => {
    const dir = makeTempDir();
    const file = writeConfig(dir, `export default { routes: [], bogus: true };`);
    expectOneLineError(await start(dir), file, '"bogus"');
  });

  it('names the file when it has no default export', async () => {
    const dir = makeTempDir();
    const file = writeConfig(dir, `export const routes = [];`, 'custom.config.ts');
    expectOneLineError(
      await start(dir, '--config', 'custom.config.ts'),
      file,
      'expected a default export',
    );
  });

  it('names the file when it cannot be compiled', async () => {
    const dir = makeTempDir();
    const file = writeConfig(dir, `export default {{;`);
    expectOneLineError(await start(dir), file, 'could not be loaded');
  });

  it('exits 2 naming the path for a --config that does not exist', async () => {
    const dir = makeTempDir();
    expectUsageError(
      await start(dir, '--config', 'missing.config.ts'),
      `config file not found: ${join(dir, 'missing.config.ts')}`,
    );
  });

  it('exits 2 for a --port that is not a number', async () => {
    const dir = makeTempDir();
    expectUsageError(await start(dir, '--port', 'http'), '--port');
  });
});
