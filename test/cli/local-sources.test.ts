// agentd start with cron, fs and process sources from the config: their events reach the store,
// relative paths are read from the config's directory, and stopping the daemon stops the commands.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  eventually,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
  startDaemon,
  writeConfig,
} from './run-cli.js';

setUpCliTests();

interface StoredEvent {
  event: { type: string; source: string; data: Record<string, unknown> };
}

describe('cron, fs and process sources in a running daemon', () => {
  it('publishes their events and stops the supervised commands on shutdown', async () => {
    const dir = makeTempDir();
    mkdirSync(join(dir, 'project', 'notes'), { recursive: true });
    // Started from another directory: relative paths still mean the config's directory.
    writeConfig(
      join(dir, 'project'),
      `export default defineConfig({
        sources: [
          { kind: 'cron', name: 'every-second', schedule: '* * * * * *' },
          { kind: 'fs', name: 'notes', paths: ['notes'], debounceMs: 50 },
          { kind: 'process', name: 'sleeper', command: 'sleep 300', restart: 'never', stopGraceMs: 2000 },
          { kind: 'process', name: 'crasher', command: ['sh', '-c', 'exit 4'], backoff: { initialMs: 100, maxMs: 200 } },
        ],
      });`,
    );
    const config = ['--config', 'project/agentd.config.ts'];
    const daemon = await startDaemon(dir, 'data', config);
    const events = async (type: string) =>
      parseJson<StoredEvent[]>(
        await runCli(['events', '--json', '--data-dir', 'data', '--type', type, ...config], {
          cwd: dir,
        }),
      );

    writeFileSync(join(dir, 'project', 'notes', 'todo.md'), 'write the docs');
    await eventually(
      async () => ((await events('schedule.every-second')).length > 0 ? true : undefined),
      'a schedule event',
    );
    const changed = await eventually(async () => {
      const found = await events('fs.changed');
      return found.length > 0 ? found : undefined;
    }, 'fs.changed');
    expect(changed[0]!.event.data).toMatchObject({
      watch: 'notes',
      base: join(dir, 'project'),
      changes: [{ path: 'notes/todo.md', kind: 'add' }],
    });
    const crashes = await eventually(async () => {
      const found = (await events('process.exited')).filter(
        (e) => e.event.data.process === 'crasher',
      );
      return found.length >= 2 ? found : undefined;
    }, 'two crashes');
    expect(crashes[0]!.event.data).toMatchObject({ exitCode: 4, willRestart: true });

    const stopped = await daemon.process.stop('SIGTERM', 20_000);
    expect(stopped.code).toBe(0);
    const sleeper = (await events('process.exited')).find(
      (e) => e.event.data.process === 'sleeper',
    );
    expect(sleeper?.event.data).toMatchObject({ reason: 'shutdown', signal: 'SIGTERM' });
    // Its whole process group is gone (give init a moment to reap the orphans).
    const pid = sleeper!.event.data.pid as number;
    await eventually(
      async () => {
        try {
          process.kill(-pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      'the sleeper process group to be gone',
      10_000,
    );
  });
});
