// The governor on a NATS bus, through the CLI: agentd pause / resume / status work against NATS, and
// two daemons on different nodes share one budget — each threshold is announced once, and both
// stop at 100% with the rest of the route's events still queued.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { event } from '../bus/conformance.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import {
  CLI_TEST_TIMEOUTS,
  eventually,
  expectSuccess,
  killAll,
  makeTempDir,
  parseJson,
  removeTempDirs,
  runCli,
  sleep,
  startDaemon,
  writeConfig,
  type RunningDaemon,
} from './run-cli.js';

const available = await natsAvailable();

vi.setConfig({ ...CLI_TEST_TIMEOUTS, testTimeout: 180_000 });

const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

interface NatsStatus {
  routes: {
    route: string;
    backlog: number | null;
    budget: { spent: boolean; tokens?: { used: number; left: number } } | null;
    paused: { cause: string; reason: string } | null;
  }[];
}

describe.runIf(available)('the governor on a NATS bus', () => {
  const streams: string[] = [];

  afterAll(async () => {
    await killAll();
    removeTempDirs();
    for (const stream of streams) await dropNamespace(NATS_URL, stream);
  });

  /** A config on a fresh NATS namespace; `routes` is the text of the routes array. */
  function natsConfig(dir: string, stream: string, node: string, routes: string): void {
    writeConfig(
      dir,
      `import { appendFileSync } from 'node:fs';
export default defineConfig({
  node: ${JSON.stringify(node)},
  bus: { kind: 'nats', servers: ${JSON.stringify(NATS_URL)}, stream: ${JSON.stringify(stream)} },
  log: { level: 'warn' },
  routes: [${routes}],
});`,
    );
  }

  it('pauses and resumes a route, and status shows why and its backlog', async () => {
    const stream = uniqueStream('PN');
    streams.push(stream);
    const dir = makeTempDir();
    const handled = join(dir, 'handled.log');
    const log = `(e) => appendFileSync(${JSON.stringify(handled)}, e.type + '\\n')`;
    natsConfig(
      dir,
      stream,
      'one',
      `on('work.x', { name: 'work', handler: ${log} }),
    on('other.x', { name: 'other', handler: ${log} })`,
    );
    const agentd = (...args: string[]) => runCli(args, { cwd: dir });
    const daemon = await startDaemon(dir, '.agentd');

    const paused = parseJson<{ paused: string; reason: string }>(
      await agentd('pause', 'work', '--reason', 'deploy in progress', '--json'),
    );
    expect(paused).toMatchObject({ paused: 'work', reason: 'deploy in progress' });
    await daemon.process.waitForStdout((out) => out.includes('route work paused'), 30_000);

    expectSuccess(await agentd('emit', 'work.x'));
    expectSuccess(await agentd('emit', 'other.x'));
    await eventually(async () => (lines(handled).includes('other.x') ? true : undefined), 'other');
    const status = parseJson<NatsStatus>(await agentd('status', '--json'));
    expect(status.routes.find((r) => r.route === 'work')).toMatchObject({
      backlog: 1,
      paused: { cause: 'operator', reason: 'deploy in progress' },
    });
    expect((await agentd('status')).stdout).toMatch(/work .*by \S+: deploy in progress/);
    expect(lines(handled)).toEqual(['other.x']);

    const resumed = await agentd('resume', 'work');
    expectSuccess(resumed);
    expect(resumed.stdout).toBe('resumed route work\n');
    await eventually(async () => (lines(handled).includes('work.x') ? true : undefined), 'work');
    await daemon.process.stop();
  });

  it('shares one budget between two daemons: thresholds once each, both stop at 100%', async () => {
    const stream = uniqueStream('PB');
    streams.push(stream);
    const root = makeTempDir();
    const ran = join(root, 'ran.log');
    const alerts = join(root, 'alerts.log');
    const daemons: RunningDaemon[] = [];
    for (const node of ['node-a', 'node-b']) {
      // Different nodes: different event sources, so no publish-time dedup can hide a repeat.
      const dir = join(root, node);
      mkdirSync(dir);
      natsConfig(
        dir,
        stream,
        node,
        `on('costly.x', {
      name: 'costly',
      concurrency: 1,
      budget: { tokens: 1000, window: 'day' },
      handler: (e) => {
        appendFileSync(${JSON.stringify(ran)}, ${JSON.stringify(node)} + ' ' + e.data + '\\n');
        return { usage: { totalTokens: 100 } };
      },
    }),
    on('agentd.budget.threshold', {
      name: 'alerts',
      handler: (e) => appendFileSync(${JSON.stringify(alerts)}, JSON.stringify(e.data) + '\\n'),
    })`,
      );
      daemons.push(await startDaemon(dir, '.agentd'));
    }
    const dirA = join(root, 'node-a');
    const bus = await NatsBus.connect({ servers: NATS_URL, stream });
    await bus.publish(Array.from({ length: 30 }, (_, n) => event('costly.x', { data: n })));
    await bus.close();

    for (const daemon of daemons)
      await daemon.process.waitForStdout((out) => out.includes('route costly paused'), 90_000);
    await eventually(async () => (lines(alerts).length >= 3 ? true : undefined), 'alerts', 30_000);
    // Both stopped: a few refreshes later nothing more has run, and the rest is still queued.
    const runs = lines(ran).length;
    await sleep(2_000);
    expect(lines(ran)).toHaveLength(runs);
    // 10 runs spend the budget; each daemon may have had one in flight when it was spent.
    expect(runs).toBeGreaterThanOrEqual(10);
    expect(runs).toBeLessThanOrEqual(12);
    expect(new Set(lines(ran).map((l) => l.split(' ')[0]))).toEqual(new Set(['node-a', 'node-b']));

    const announced = lines(alerts).map((l) => JSON.parse(l) as { fraction: number; unit: string });
    expect(announced.map((a) => a.fraction).sort()).toEqual([0.5, 0.8, 1]);
    expect(new Set(announced.map((a) => a.unit))).toEqual(new Set(['tokens']));

    const status = parseJson<NatsStatus>(await runCli(['status', '--json'], { cwd: dirA }));
    const costly = status.routes.find((r) => r.route === 'costly');
    expect(costly).toMatchObject({
      backlog: 30 - runs,
      budget: { spent: true, tokens: { used: runs * 100, left: 0 } },
      paused: { cause: 'budget' },
    });
    for (const daemon of daemons) await daemon.process.stop();
  });
});
