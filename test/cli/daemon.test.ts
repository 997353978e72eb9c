// agentd start with the other commands against it: emit over HTTP, runs, status, dlq, shutdown.
// One daemon serves the whole file: the groups run in order and later ones build on earlier state.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  expectOneLineError,
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

interface RunRecord {
  runId: string;
  route: string;
  status: string;
  attempt: number;
  eventId: string;
  eventType: string;
  errors: { attempt: number; error: string }[];
}

interface RouteStatus {
  route: string;
  active: boolean;
  types: string[];
  queued: number;
  running: number;
  retrying: number;
  dead: number;
  completed: number;
}

interface Status {
  daemon: { pid: number; url: string } | null;
  store: string;
  config: string | null;
  events: number;
  routes: RouteStatus[];
}

interface DeadLetter {
  deliveryId: string;
  subscription: string;
  attempts: number;
  reason: string;
  errors: { attempt: number; error: string }[];
  event: { id: string; type: string };
}

interface StoredEvent {
  event: { id: string; type: string };
  runs: Record<string, string>;
}

const CONFIG = `
export default defineConfig({
  log: { level: 'error' },
  routes: [
    on('test.ok.*', { name: 'ok', handler: () => undefined }),
    on('test.fail', {
      name: 'fail',
      retries: { maxAttempts: 2, initialMs: 10 },
      handler: () => {
        throw new Error('always fails');
      },
    }),
    on('test.strict', {
      name: 'strict',
      handler: () => {
        throw new NonRetryableError('refused on principle');
      },
    }),
  ],
});
`;

let dir: string;
let configFile: string;
let daemon: RunningDaemon;
const DATA_DIR = 'store';
// Not in the working directory, so only the commands that need the config load it (it is slow).
const CONFIG_FILE = 'conf/agentd.config.ts';
/** agentd in the test directory, on the daemon's data directory. */
const agentd = (...args: string[]) => runCli([...args, '--data-dir', DATA_DIR], { cwd: dir });
const runsOf = async (...args: string[]) =>
  parseJson<RunRecord[]>(await agentd('runs', '--json', ...args));
const deadLetters = async () => parseJson<DeadLetter[]>(await agentd('dlq', 'list', '--json'));
/** Event ids emitted so far, by type. */
const emitted: Record<string, string> = {};
/** The settled runs, as the third test found them. */
let settled: RunRecord[] = [];
/** The dead letter (run) id of a route's first dead run. */
const deadId = (route: string) =>
  settled.find((r) => r.route === route && r.status === 'dead')!.runId;

beforeAll(async () => {
  dir = makeTempDir();
  configFile = writeConfig(dir, CONFIG, CONFIG_FILE);
  daemon = await startDaemon(dir, DATA_DIR, ['--config', CONFIG_FILE]);
  // Straight to the HTTP API: the CLI's own emit is what the first test checks.
  const response = await fetch(`${daemon.url}/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/cloudevents-batch+json',
      ...bearer(join(dir, DATA_DIR)),
    },
    body: JSON.stringify([{ type: 'test.fail' }, { type: 'test.strict' }]),
  });
  expect(response.status).toBe(202);
  const { accepted } = (await response.json()) as { accepted: { id: string }[] };
  emitted['test.fail'] = accepted[0]!.id;
  emitted['test.strict'] = accepted[1]!.id;
});

/** The admin token the daemon made in its data directory, as a header, when there is one. */
function bearer(dataDir: string): Record<string, string> {
  const file = join(dataDir, 'admin-token');
  return existsSync(file) ? { authorization: `Bearer ${readFileSync(file, 'utf8').trim()}` } : {};
}

describe('agentd with a running daemon', () => {
  it('emit sends the event to the daemon over HTTP and says so', async () => {
    const result = await agentd('emit', 'test.ok.cli', '--data', '{"n":1}');
    expectSuccess(result);
    expect(result.stdout).toMatch(
      /^test\.ok\.cli \S+ \(accepted\) via http:\/\/127\.0\.0\.1:\d+\n$/,
    );
    expect(result.stdout).toContain(daemon.url);
    emitted['test.ok.cli'] = result.stdout.split(' ')[1]!;
  });

  it('emit --json reports the daemon URL as via', async () => {
    const result = parseJson<{ id: string; duplicate: boolean; via: string }>(
      await agentd('emit', 'test.ok.json', '--json'),
    );
    expect(result).toMatchObject({ duplicate: false, via: daemon.url });
  });

  it('runs shows the succeeding run completed and the failing ones dead', async () => {
    settled = await eventually(async () => {
      const all = await runsOf();
      const done = all.filter((r) => r.status === 'completed' || r.status === 'dead');
      return all.length === 4 && done.length === 4 ? all : undefined;
    }, 'four settled runs');
    const byEvent = (id: string | undefined) => settled.find((r) => r.eventId === id);
    expect(byEvent(emitted['test.ok.cli'])).toMatchObject({ route: 'ok', status: 'completed' });
    expect(byEvent(emitted['test.fail'])).toMatchObject({
      route: 'fail',
      status: 'dead',
      attempt: 2,
    });
    expect(byEvent(emitted['test.fail'])!.errors.map((e) => e.error)).toEqual([
      'Error: always fails',
      'Error: always fails',
    ]);
    expect(byEvent(emitted['test.strict'])).toMatchObject({
      route: 'strict',
      status: 'dead',
      attempt: 1,
    });
  });

  // Read-only from here to the end of this block, so these run side by side.
  describe.concurrent('once the runs have settled', () => {
    it('runs prints a table naming each route and status by default', async () => {
      const result = await agentd('runs');
      expectSuccess(result);
      for (const word of ['ok', 'fail', 'strict', 'completed', 'dead', 'Error: always fails'])
        expect(result.stdout).toContain(word);
    });

    it('runs --route shows only that route', async () => {
      const runs = await runsOf('--route', 'fail');
      expect(runs.map((r) => r.route)).toEqual(['fail']);
    });

    it('runs --status shows only runs in that status', async () => {
      const runs = await runsOf('--status', 'dead');
      expect(runs.map((r) => r.route).sort()).toEqual(['fail', 'strict']);
    });

    it('events --json shows what each route made of an event', async () => {
      const events = parseJson<StoredEvent[]>(
        await agentd('events', '--json', '--type', 'test.**'),
      );
      const runsFor = (id: string | undefined) => events.find((e) => e.event.id === id)?.runs;
      expect(runsFor(emitted['test.ok.cli'])).toEqual({ ok: 'completed' });
      expect(runsFor(emitted['test.fail'])).toEqual({ fail: 'dead' });
      expect(runsFor(emitted['test.strict'])).toEqual({ strict: 'dead' });
    });

    it('status names the running daemon and lists each route', async () => {
      const result = await agentd('status', '--config', CONFIG_FILE);
      expectSuccess(result);
      expect(result.stdout).toContain(
        `daemon: running (pid ${daemon.process.pid}) on ${daemon.url}`,
      );
      expect(result.stdout).toContain(`config: ${configFile}`);
      for (const route of ['ok', 'fail', 'strict', 'test.ok.*'])
        expect(result.stdout).toContain(route);
    });

    it('status --json gives the daemon and per-route counts', async () => {
      const status = parseJson<Status>(await agentd('status', '--json', '--config', CONFIG_FILE));
      expect(status.daemon).toMatchObject({ pid: daemon.process.pid, url: daemon.url });
      expect(status.store).toBe(join(dir, DATA_DIR, 'agentd.db'));
      expect(status.config).toBe(configFile);
      const route = (name: string) => status.routes.find((r) => r.route === name);
      expect(route('ok')).toMatchObject({
        active: true,
        types: ['test.ok.*'],
        completed: 2,
        dead: 0,
      });
      expect(route('fail')).toMatchObject({ completed: 0, dead: 1, queued: 0, retrying: 0 });
      expect(route('strict')).toMatchObject({ completed: 0, dead: 1 });
    });

    it('dlq list --json lists the two dead letters with their reasons', async () => {
      const list = await deadLetters();
      expect(list.map((d) => d.subscription).sort()).toEqual(['fail', 'strict']);
      const strict = list.find((d) => d.subscription === 'strict')!;
      expect(strict).toMatchObject({ deliveryId: deadId('strict'), attempts: 1 });
      expect(strict.event.id).toBe(emitted['test.strict']);
      expect(strict.reason).toContain('refused on principle');
    });

    it('dlq list prints a table by default', async () => {
      const result = await agentd('dlq', 'list');
      expectSuccess(result);
      expect(result.stdout).toContain('test.strict');
      expect(result.stdout).toContain('refused on principle');
    });

    it('dlq show prints the reason and the error of every attempt', async () => {
      const id = deadId('fail');
      const result = await agentd('dlq', 'show', id);
      expectSuccess(result);
      expect(result.stdout).toContain(`dead letter ${id}  route fail  attempts 2`);
      expect(result.stdout).toContain('reason: failed 2 of 2 attempts');
      expect(result.stdout).toMatch(/#1 .*Error: always fails/);
      expect(result.stdout).toMatch(/#2 .*Error: always fails/);
      expect(result.stdout).toContain(emitted['test.fail']);
    });

    it('dlq show --json gives the dead letter with its errors', async () => {
      const id = deadId('fail');
      const shown = parseJson<DeadLetter>(await agentd('dlq', 'show', id, '--json'));
      expect(shown).toMatchObject({ deliveryId: id, subscription: 'fail', attempts: 2 });
      expect(shown.event.id).toBe(emitted['test.fail']);
      expect(shown.errors.map((e) => e.attempt)).toEqual([1, 2]);
    });

    it('dlq show exits 2 with one line for an unknown id', async () => {
      expectUsageError(await agentd('dlq', 'show', '999999'), 'no dead letter with id 999999');
    });

    it('dlq replay exits 2 with one line when given no ids', async () => {
      expectUsageError(await agentd('dlq', 'replay'), 'give one or more dead letter ids, or --all');
    });

    it('a second start on the same data directory fails naming the running daemon', async () => {
      const second = await runCli(['start', '--port', '0', '--data-dir', DATA_DIR], { cwd: dir });
      expectOneLineError(second, 'already running', `pid ${daemon.process.pid}`);
      expect(daemon.process.hasExited).toBe(false);
    });
  });
});

describe('agentd dlq replay and purge with a running daemon', () => {
  it('dlq replay <id> runs the dead letter again as a new run', async () => {
    const old = deadId('strict');
    const result = await agentd('dlq', 'replay', old);
    expectSuccess(result);
    expect(result.stdout.trim()).toBe('replayed 1 dead letter');
    // The daemon picks it up from the store; it fails again and is dead under a new id.
    const again = await eventually(
      async () =>
        (await deadLetters()).find((d) => d.subscription === 'strict' && d.deliveryId !== old),
      'the replayed run to be dead again',
    );
    expect(again.event.id).toBe(emitted['test.strict']);
    const runs = await runsOf('--route', 'strict');
    expect(runs.map((r) => r.status).sort()).toEqual(['dead', 'replayed']);
  });

  it('dlq replay --all --json replays every dead letter', async () => {
    expect(parseJson(await agentd('dlq', 'replay', '--all', '--json'))).toEqual({ replayed: 2 });
  });

  it('dlq purge --all --json deletes every dead letter', async () => {
    // Wait for both replays to be dead again, so none lands after the purge.
    await eventually(
      async () => ((await deadLetters()).length === 2 ? true : undefined),
      'both replayed runs to be dead again',
    );
    expect(parseJson(await agentd('dlq', 'purge', '--all', '--json'))).toEqual({ purged: 2 });
    expect(await deadLetters()).toEqual([]);
  });
});

describe('agentd after the daemon stops', () => {
  it('SIGTERM stops the daemon with exit code 0 and removes daemon.json', async () => {
    expect(await daemon.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(existsSync(join(dir, DATA_DIR, 'daemon.json'))).toBe(false);
  });

  it('emit stores the event and queues a run on the route the daemon registered', async () => {
    const emit = await agentd('emit', 'test.ok.later');
    expectSuccess(emit);
    expect(emit.stdout).toContain('(stored; it runs when the daemon runs)');
    expect(emit.stdout).toContain(join(dir, DATA_DIR, 'agentd.db'));
    const id = emit.stdout.split(' ')[1];
    const queued = await runsOf('--route', 'ok', '--status', 'queued');
    expect(queued.map((r) => r.eventId)).toEqual([id]);
  });

  it('status --json shows no daemon and the queued run', async () => {
    const status = parseJson<Status>(await agentd('status', '--json'));
    expect(status.daemon).toBeNull();
    expect(status.routes.find((r) => r.route === 'ok')).toMatchObject({ queued: 1 });
  });
});
