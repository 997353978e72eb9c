// agentd pause / resume against a running daemon: the pause reaches the daemon through the store,
// deliveries of the paused route stay queued while others run, the pause survives a restart,
// resume lets them run; resume also lifts a spent budget's pause. Unknown routes exit 2.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAdminToken } from '../../src/runtime/admin-token.js';
import {
  eventually,
  expectSuccess,
  expectUsageError,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
  startDaemon,
  type RunningDaemon,
  writeConfig,
} from './run-cli.js';

setUpCliTests();

let dir: string;
let daemon: RunningDaemon;
const agentd = (...args: string[]) => runCli([...args, '--data-dir', 'store'], { cwd: dir });

interface ApiRoute {
  route: string;
  queued: number;
  completed: number;
  paused: boolean;
  pause: { cause: string; reason: string; by?: string } | null;
  budget: { spent: boolean; tokens?: { used: number } } | null;
}

/** The daemon's own view (GET /api/routes), read with the admin token it made. */
async function apiRoutes(): Promise<Map<string, ApiRoute>> {
  const token = readAdminToken(join(dir, 'store'));
  const response = await fetch(`${daemon.url}/api/routes`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await response.json()) as { routes: ApiRoute[] };
  return new Map(body.routes.map((r) => [r.route, r]));
}

const until = (what: string, check: (routes: Map<string, ApiRoute>) => boolean) =>
  eventually(async () => (check(await apiRoutes()) ? true : undefined), what);

beforeAll(async () => {
  dir = makeTempDir();
  writeConfig(
    dir,
    `export default defineConfig({
  log: { level: 'error' },
  routes: [
    on('work.x', { name: 'work', handler: () => undefined }),
    on('other.x', { name: 'other', handler: () => undefined }),
    on('costly.x', {
      name: 'costly',
      budget: { tokens: 1000, window: 'day' },
      handler: () => ({ usage: { totalTokens: 2000 } }),
    }),
  ],
});`,
  );
  daemon = await startDaemon(dir, 'store');
});

describe('agentd pause and resume', () => {
  it('exits 2 for a route the config does not have, listing those it has', async () => {
    expectUsageError(
      await agentd('pause', 'nope'),
      'no route "nope"',
      'routes: work, other, costly',
    );
    expectUsageError(await agentd('resume', 'nope'), 'routes: work, other, costly');
    expectUsageError(await agentd('resume'), 'give a route to resume, or --global');
  });

  it('holds a route in a running daemon, across a restart, until resume', async () => {
    const paused = parseJson<{ paused: string; reason: string }>(
      await agentd('pause', 'work', '--reason', 'deploy in progress', '--json'),
    );
    expect(paused).toMatchObject({ paused: 'work', reason: 'deploy in progress' });
    await until('the daemon sees the pause', (r) => r.get('work')?.paused === true);

    expectSuccess(await agentd('emit', 'work.x'));
    expectSuccess(await agentd('emit', 'other.x'));
    // The other route ran its event: the daemon was working, yet the paused one holds its own.
    await until('other ran', (r) => r.get('other')?.completed === 1);
    expect((await apiRoutes()).get('work')).toMatchObject({ queued: 1, completed: 0 });

    const status = parseJson<{ routes: { route: string; backlog: number; paused: unknown }[] }>(
      await agentd('status', '--json'),
    );
    expect(status.routes.find((r) => r.route === 'work')).toMatchObject({
      backlog: 1,
      paused: { cause: 'operator', reason: 'deploy in progress' },
    });
    const table = await agentd('status');
    expect(table.stdout).toMatch(/work .*by \S+: deploy in progress/);

    await daemon.process.stop();
    daemon = await startDaemon(dir, 'store');
    const after = await apiRoutes();
    expect(after.get('work')).toMatchObject({ paused: true, queued: 1 });

    const resumed = await agentd('resume', 'work');
    expectSuccess(resumed);
    expect(resumed.stdout).toBe('resumed route work\n');
    await until('the queued event ran', (r) => r.get('work')?.completed === 1);
    expect((await apiRoutes()).get('work')?.paused).toBe(false);
  });

  it('lifts the pause of a spent budget for the rest of its window', async () => {
    expectSuccess(await agentd('emit', 'costly.x'));
    await until(
      'the budget spent',
      (r) => r.get('costly')?.pause?.cause === 'budget' && r.get('costly')?.completed === 1,
    );
    expectSuccess(await agentd('emit', 'costly.x'));
    expectSuccess(await agentd('emit', 'other.x'));
    await until('other ran again', (r) => r.get('other')?.completed === 2);
    expect((await apiRoutes()).get('costly')?.queued).toBe(1);

    const lifted = parseJson<{ unpaused: boolean; budgetLiftedUntil: string }>(
      await agentd('resume', 'costly', '--json'),
    );
    expect(lifted.unpaused).toBe(false);
    expect(lifted.budgetLiftedUntil).toMatch(/T00:00:00\.000Z$/);
    await until('the held event ran', (r) => r.get('costly')?.completed === 2);
    expect((await apiRoutes()).get('costly')?.budget).toMatchObject({
      spent: false,
      tokens: { used: 4000 },
    });
  });
});
