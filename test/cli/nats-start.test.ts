// The CLI on a NATS bus: `agentd start --workers 2` serves HTTP in one process and runs the routes
// in two worker processes; emit, status and dlq work against NATS; events and runs read the
// history the daemon keeps.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { subscriptionToken } from '../../src/bus/nats/names.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import {
  CLI_TEST_TIMEOUTS,
  eventually,
  expectSuccess,
  expectUsageError,
  killAll,
  makeTempDir,
  parseJson,
  removeTempDirs,
  runCli,
  startDaemon,
  writeConfig,
} from './run-cli.js';

const available = await natsAvailable();

vi.setConfig({ ...CLI_TEST_TIMEOUTS, testTimeout: 150_000 });

describe.runIf(available)('agentd on a NATS bus', () => {
  const stream = uniqueStream('CLI');

  afterAll(async () => {
    await killAll();
    removeTempDirs();
    await dropNamespace(NATS_URL, stream);
  });

  it('runs routes in --workers processes; emit, status and dlq go through NATS', async () => {
    const dir = makeTempDir();
    const handled = join(dir, 'handled.log');
    writeConfig(
      dir,
      `import { appendFileSync } from 'node:fs';
export default defineConfig({
  bus: { kind: 'nats', servers: ${JSON.stringify(NATS_URL)}, stream: ${JSON.stringify(stream)} },
  log: { level: 'warn' },
  routes: [
    on('demo.hello', { handler: (e) => appendFileSync(${JSON.stringify(handled)}, process.pid + ' ' + JSON.stringify(e.data) + '\\n') }),
    on('demo.bad', { handler: () => { throw new NonRetryableError('bad input'); } }),
  ],
});`,
    );
    const daemon = await startDaemon(dir, '.agentd', ['--workers', '2']);
    // Asked of NATS directly: each CLI call costs a node start, and this may take a few tries.
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    const waiting = async (route: string) =>
      (await jsm.consumers.info(stream, subscriptionToken(route)).catch(() => undefined))
        ?.num_waiting ?? 0;
    await eventually(
      async () =>
        (await waiting('demo.hello')) > 0 && (await waiting('demo.bad')) > 0 ? true : undefined,
      'both routes to have workers waiting',
      60_000,
    );

    expectSuccess(await runCli(['emit', 'demo.hello', '--data', '{"n":1}'], { cwd: dir }));
    expectSuccess(await runCli(['emit', 'demo.bad'], { cwd: dir }));
    const line = await eventually(
      async () => (existsSync(handled) ? readFileSync(handled, 'utf8') : undefined),
      'demo.hello to be handled',
    );
    // Handled in a worker process, not in the daemon that serves HTTP.
    expect(line).toMatch(/^\d+ \{"n":1\}\n$/);
    expect(line.split(' ')[0]).not.toBe(String(daemon.process.pid));

    await eventually(
      async () => ((await jsm.streams.info(`${stream}_DLQ`)).state.messages > 0 ? true : undefined),
      'demo.bad to be dead-lettered',
    );
    await nc.close();
    const status = parseJson<{ routes: { route: string; dead: number }[] }>(
      await runCli(['status', '--json'], { cwd: dir }),
    );
    expect(status.routes.find((r) => r.route === 'demo.bad')?.dead).toBe(1);
    const dead = parseJson<{ deliveryId: string; reason: string }[]>(
      await runCli(['dlq', 'list', '--json'], { cwd: dir }),
    );
    expect(dead).toHaveLength(1);
    expect(dead[0]!.reason).toMatch(/bad input/);
    const shown = parseJson<{ event: { type: string } }>(
      await runCli(['dlq', 'show', dead[0]!.deliveryId, '--json'], { cwd: dir }),
    );
    expect(shown.event.type).toBe('demo.bad');
    expect(
      parseJson<{ purged: number }>(
        await runCli(['dlq', 'purge', '--all', '--json'], { cwd: dir }),
      ),
    ).toEqual({ purged: 1 });

    // The history the daemon builds from NATS: events, and the runs of the worker processes.
    const deadRuns = await eventually(async () => {
      const runs = parseJson<{ route: string; eventType: string; errors: unknown[] }[]>(
        await runCli(['runs', '--status', 'dead', '--json'], { cwd: dir }),
      );
      return runs.length > 0 ? runs : undefined;
    }, 'the dead run in the history');
    expect(deadRuns).toEqual([
      expect.objectContaining({ route: 'demo.bad', eventType: 'demo.bad' }),
    ]);
    const events = parseJson<{ event: { type: string } }[]>(
      await runCli(['events', '--type', 'demo.*', '--json'], { cwd: dir }),
    );
    expect(events.map((e) => e.event.type)).toEqual(['demo.bad', 'demo.hello']);
    // Without a daemon's history file there is nothing to read on NATS, and it says so.
    expectUsageError(
      await runCli(['events', '--data-dir', join(dir, 'elsewhere')], { cwd: dir }),
      'there is none',
    );
    // SIGTERM drains the worker processes too, and exits cleanly.
    expect(await daemon.process.stop('SIGTERM', 30_000)).toMatchObject({ code: 0 });
  });

  it('refuses --workers above 1 on the SQLite bus', async () => {
    const dir = makeTempDir();
    writeConfig(dir, 'export default defineConfig({ routes: [] });');
    expectUsageError(await runCli(['start', '--workers', '2'], { cwd: dir }), /needs bus/);
  });
});
