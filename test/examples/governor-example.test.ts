// examples/governor run as its README runs it: `agentd start --config examples/governor/...` in a
// child process on a temp data dir, driven over HTTP and with `agentd resume`, checking what the
// README says happens: a newer push cancels the review in flight (nothing posted), a close cancels
// one, a burst is debounced to one run, five audit lines make one batch, the token budget
// announces 50/80/100% once each and pauses with work queued until resume, and the loop guard
// stops echo. The fake model calls are shortened through DEMO_REVIEW_MS and DEMO_SUMMARY_MS.
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readAdminToken } from '../../src/runtime/admin-token.js';
import {
  CLI_TEST_TIMEOUTS,
  eventually,
  expectSuccess,
  killAll,
  makeTempDir,
  REPO,
  removeTempDirs,
  runCli,
  startDaemon,
  type RunningDaemon,
} from '../cli/run-cli.js';

vi.setConfig(CLI_TEST_TIMEOUTS);

const CONFIG = 'examples/governor/agentd.config.ts';
/** Long enough to post a second event while the first review runs, on a busy machine too. */
const REVIEW_MS = 4_000;

interface Run {
  runId: string;
  status: string;
  eventId: string;
  reason?: string;
}

interface RouteRow {
  route: string;
  queued: number;
  completed: number;
  pause: { cause: string; reason: string } | null;
  budget: { spent: boolean; tokens?: { used: number; limit: number } } | null;
}

let daemon: RunningDaemon;
let dataDir: string;
let token: string;
let posted = 0;
const savedEnv = { ...process.env };

beforeAll(async () => {
  Object.assign(process.env, { DEMO_REVIEW_MS: String(REVIEW_MS), DEMO_SUMMARY_MS: '200' });
  // Relative to the repository, which the daemon runs in: there 'agentd' resolves to src/.
  dataDir = relative(REPO, join(makeTempDir(), 'store'));
  daemon = await startDaemon(REPO, dataDir, ['--config', CONFIG]);
  const made = readAdminToken(join(REPO, dataDir));
  if (made === undefined) throw new Error(`the daemon wrote no admin token in ${dataDir}`);
  token = made;
});

afterAll(async () => {
  process.env = { ...savedEnv };
  await killAll();
  removeTempDirs();
});

/** Posts events in one request (a batch is stored in one transaction); returns their ids. */
async function post(...events: { type: string; data?: unknown }[]): Promise<string[]> {
  const batch = events.map((e) => ({
    specversion: '1.0',
    source: 'governor-example-test',
    id: `e${++posted}`,
    ...e,
  }));
  const response = await fetch(`${daemon.url}/events`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/cloudevents-batch+json',
    },
    body: JSON.stringify(batch),
  });
  expect(response.status, await response.clone().text()).toBe(202);
  const body = (await response.json()) as { accepted: { id: string }[] };
  return body.accepted.map((a) => a.id);
}

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${daemon.url}/api${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

const runsOf = async (route: string) =>
  (await api<{ items: Run[] }>(`/runs?route=${route}&limit=100`)).items;

const runOf = async (route: string, eventId: string) =>
  (await runsOf(route)).find((r) => r.eventId === eventId);

/** Waits until the run of `eventId` on `route` has `status`, and returns it. */
const runReaches = (route: string, eventId: string, status: string) =>
  eventually(async () => {
    const run = await runOf(route, eventId);
    return run?.status === status ? run : undefined;
  }, `${route} run of ${eventId} to be ${status}`);

const routeRow = async (route: string) =>
  (await api<{ routes: RouteRow[] }>('/routes')).routes.find((r) => r.route === route);

/** The daemon's log lines (JSON) whose message matches. */
const logged = (pattern: RegExp) =>
  daemon.process.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => (JSON.parse(line) as { msg: string }).msg)
    .filter((msg) => pattern.test(msg));

describe('examples/governor', () => {
  it('cancels the review in flight when the PR is pushed again; only the newer one posts', async () => {
    const [opened] = await post({ type: 'demo.pr.opened', data: { number: 42, head: 'a1' } });
    await runReaches('review', opened!, 'running');
    const [pushed] = await post({ type: 'demo.pr.pushed', data: { number: 42, head: 'b2' } });

    const cancelled = await runReaches('review', opened!, 'cancelled');
    expect(cancelled.reason).toBe(`singleton: replaced by event ${pushed}`);
    await runReaches('review', pushed!, 'completed');
    const actions = await api<{ params: unknown }[]>('/outbox?route=review');
    expect(actions).toHaveLength(1);
    expect(JSON.stringify(actions[0]?.params)).toContain('"head":"b2"');
  });

  it('cancels the review when the PR is closed; other PRs are not touched', async () => {
    const [seven, eight] = await post(
      { type: 'demo.pr.opened', data: { number: 7, head: 'c3' } },
      { type: 'demo.pr.opened', data: { number: 8, head: 'd4' } },
    );
    await runReaches('review', seven!, 'running');
    const [closed] = await post({ type: 'demo.pr.closed', data: { number: 7 } });
    const cancelled = await runReaches('review', seven!, 'cancelled');
    expect(cancelled.reason).toBe(`cancelOn: demo.pr.closed ${closed}`);
    // PR 8 is another key: still reviewed (running, or done by now).
    expect(['running', 'completed']).toContain((await runOf('review', eight!))?.status);
  });

  it('runs reindex once per burst, with the last change', async () => {
    const ids = await post(
      ...['a', 'b', 'c', 'd'].map((f) => ({
        type: 'demo.file.changed',
        data: { project: 'web', path: `src/${f}.ts` },
      })),
    );
    await runReaches('reindex', ids[3]!, 'completed');
    const runs = await runsOf('reindex');
    expect(runs.filter((r) => r.status === 'completed')).toHaveLength(1);
    for (const [i, id] of ids.slice(0, 3).entries())
      expect(runs.find((r) => r.eventId === id)).toMatchObject({
        status: 'skipped',
        reason: `debounced: superseded by ${ids[i + 1]}`,
      });
    await eventually(
      async () => (logged(/^re-indexing web/).length > 0 ? true : undefined),
      'the re-index log line',
    );
    expect(logged(/^re-indexing web/)).toEqual(['re-indexing web (last change: src/d.ts)']);
  });

  it('hands the audit handler five lines as one batch', async () => {
    await post(...[1, 2, 3, 4, 5].map((line) => ({ type: 'demo.audit.logged', data: { line } })));
    await eventually(
      async () =>
        (await runsOf('audit')).filter((r) => r.status === 'completed').length === 5 || undefined,
      'the batch to complete',
    );
    // The ack is visible in the store before the child's log line has come through its pipe.
    await eventually(
      async () => (logged(/audit lines/).length > 0 ? true : undefined),
      'the batch log line',
    );
    expect(logged(/audit lines/)).toEqual([
      'wrote 5 audit lines in one batch: {"line":1} {"line":2} {"line":3} {"line":4} {"line":5}',
    ]);
  });

  it('announces 50/80/100% of the token budget once each, pauses, and runs the rest on resume', async () => {
    const ids = await post(
      ...[1, 2, 3, 4, 5].map((doc) => ({ type: 'demo.summarize', data: { doc } })),
    );
    await eventually(async () => {
      const row = await routeRow('summarize');
      return row?.completed === 4 && row.pause?.cause === 'budget' ? row : undefined;
    }, 'four summaries and the budget pause');
    await eventually(
      async () => (logged(/^governor: agentd.route.paused/).length === 1 ? true : undefined),
      'governor-log to see agentd.route.paused',
    );
    const row = await routeRow('summarize');
    expect(row).toMatchObject({ queued: 1, budget: { spent: true, tokens: { used: 12_000 } } });
    // The tokens used at a crossing depend on how many runs settled together (6,000 or 9,000 at 50%).
    // Thresholds crossed together are handled side by side, so their lines may come in any order.
    await eventually(
      async () => (logged(/^budget alert/).length >= 3 ? true : undefined),
      'three budget alert lines',
    );
    const alerts = logged(/^budget alert/).map((msg) =>
      Number(/^budget alert: summarize at (\d+)% \(\d+\/10000 tokens this hour\)$/.exec(msg)?.[1]),
    );
    expect(alerts.sort((a, b) => a - b)).toEqual([50, 80, 100]);
    const thresholds = await api<{ items: unknown[] }>('/events?type=agentd.budget.threshold');
    expect(thresholds.items).toHaveLength(3);
    // Prometheus sees the same: nothing left, the route paused by its budget.
    const metrics = await (
      await fetch(`${daemon.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    expect(metrics).toContain('agentd_budget_limit{scope="summarize",unit="tokens"} 10000');
    expect(metrics).toContain('agentd_budget_used{scope="summarize",unit="tokens"} 12000');
    expect(metrics).toContain('agentd_budget_left{scope="summarize",unit="tokens"} 0');
    expect(metrics).toContain('agentd_route_paused{route="summarize",cause="budget"} 1');

    const resume = ['resume', 'summarize', '--config', CONFIG, '--data-dir', dataDir];
    const resumed = await runCli(resume, { cwd: REPO });
    expectSuccess(resumed);
    expect(resumed.stdout).toMatch(/^lifted the spent budget of route summarize until /);
    await eventually(
      async () => ((await routeRow('summarize'))?.completed === 5 ? true : undefined),
      'the fifth summary after resume',
    );
    expect((await runsOf('summarize')).map((r) => r.eventId).sort()).toEqual([...ids].sort());
  });

  it('dead-letters the event that would re-trigger echo a fourth time', async () => {
    await post({ type: 'demo.echo' });
    const dead = await eventually(async () => {
      const { items } = await api<{ items: { reason: string }[] }>('/dlq?route=echo');
      return items[0];
    }, 'echo in the DLQ');
    expect(dead.reason).toBe(
      'loop-guard: route echo re-triggered 4 times by its own chain, above governor.loop.maxCycles 3',
    );
    expect(logged(/^echo \d$/)).toEqual(['echo 1', 'echo 2', 'echo 3', 'echo 4']);
    await eventually(
      async () => (logged(/^governor: agentd.loop.detected/).length === 1 ? true : undefined),
      'governor-log to see agentd.loop.detected',
    );
  });
});
