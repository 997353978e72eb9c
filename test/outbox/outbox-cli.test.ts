// agentd outbox list|show|approve|reject|retry|purge and /api/outbox against a running daemon whose
// GitHub sink points at a fake GitHub. One daemon serves the file; tests build on earlier state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAction } from '../../src/bus/outbox-store.js';
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
} from '../cli/run-cli.js';
import { GITHUB_TOKEN, startFakeGithub, type FakeGithub } from '../fixtures/fake-github-server.js';

setUpCliTests();

let github: FakeGithub;
let cwd: string;
let daemon: RunningDaemon;
let token: string;

const cli = (...args: string[]) => runCli(['outbox', ...args, '--data-dir', 'data'], { cwd });
const list = async (...args: string[]) =>
  parseJson<StoredAction[]>(await cli('list', '--json', ...args));
const commentsOn = (issue: number) => github.comments.get(`acme/widgets#${issue}`) ?? [];

async function emit(type: string, data: unknown): Promise<void> {
  const response = await fetch(`${daemon.url}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      specversion: '1.0',
      type,
      source: 'cli-test',
      id: `${type}-${JSON.stringify(data)}`,
      data,
    }),
  });
  expect(response.status).toBe(202);
}

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${daemon.url}/api/outbox${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
}

beforeAll(async () => {
  github = await startFakeGithub({ repos: ['acme/widgets'] });
  cwd = makeTempDir();
  writeConfig(
    cwd,
    `export default defineConfig({
  log: { level: 'warn' },
  outbox: {
    github: { kind: 'token', token: ${JSON.stringify(GITHUB_TOKEN)}, baseUrl: ${JSON.stringify(github.url)} },
    backoff: { initialMs: 50, maxMs: 100 },
  },
  routes: [
    on('pr.ready', {
      name: 'guarded',
      approval: true,
      handler: (event, ctx) => {
        ctx.outbox.github.comment({ repo: 'acme/widgets', issue: event.data.n, body: 'reviewed' });
      },
    }),
    on('pr.trial', {
      name: 'trial',
      dryRun: true,
      handler: (event, ctx) => {
        ctx.outbox.github.labels({ repo: 'acme/widgets', issue: event.data.n, add: ['trial'] });
      },
    }),
    on('pr.plain', {
      name: 'plain',
      handler: (event, ctx) => {
        ctx.outbox.github.comment({ repo: 'acme/widgets', issue: event.data.n, body: 'plain' });
      },
    }),
  ],
});`,
  );
  daemon = await startDaemon(cwd, 'data');
  token = readFileSync(join(cwd, 'data', 'admin-token'), 'utf8').trim();
});

afterAll(() => github.close());

describe('agentd outbox', () => {
  it('lists actions waiting for approval and dry-run actions, and sends none of them', async () => {
    await emit('pr.ready', { n: 1 });
    await emit('pr.ready', { n: 2 });
    await emit('pr.trial', { n: 3 });
    const actions = await eventually(async () => {
      const found = await list();
      return found.length === 3 ? found : undefined;
    }, 'three recorded actions');
    expect(actions.map((a) => `${a.route}:${a.state}`).sort()).toEqual([
      'guarded:pending-approval',
      'guarded:pending-approval',
      'trial:dry-run',
    ]);
    const table = await cli('list');
    expectSuccess(table);
    expect(table.stdout).toMatch(/pending-approval\s*│?\s*github\.comment\s*│?\s*acme\/widgets#1/);
    expect(github.requests).toHaveLength(0);
  });

  it('shows one action with its parameters', async () => {
    const [trial] = await list('--state', 'dry-run');
    const shown = await cli('show', trial?.id ?? '');
    expectSuccess(shown);
    expect(shown.stdout).toContain('github.labels');
    expect(shown.stdout).toContain('"trial"');
  });

  it('sends an action once it is approved, and never one that is rejected', async () => {
    const waiting = await list('--state', 'pending-approval');
    const first = waiting.find((a) => (a.params as { issue: number }).issue === 1);
    const second = waiting.find((a) => (a.params as { issue: number }).issue === 2);
    expectSuccess(await cli('approve', first?.id ?? '', '--by', 'ada'));
    const rejected = await cli('reject', second?.id ?? '', '--reason', 'not this one');
    expectSuccess(rejected);
    await eventually(async () => (commentsOn(1).length === 1 ? true : undefined), 'the comment');
    const after = await list('--route', 'guarded');
    expect(after.find((a) => a.id === first?.id)).toMatchObject({
      state: 'done',
      decidedBy: 'ada',
    });
    expect(after.find((a) => a.id === second?.id)).toMatchObject({
      state: 'rejected',
      reason: 'not this one',
    });
    expect(commentsOn(2)).toHaveLength(0);
  });

  it('retries a dead action from the outbox DLQ, and purges dry-run actions', async () => {
    github.fail({
      method: 'POST',
      path: /\/issues\/4\/comments$/,
      status: 422,
      body: { message: 'Validation Failed' },
    });
    await emit('pr.plain', { n: 4 });
    const [dead] = await eventually(async () => {
      const found = await list('--state', 'dead');
      return found.length === 1 ? found : undefined;
    }, 'the dead action');
    expect(dead?.errors[0]).toMatchObject({ status: 422 });
    expect(dead?.errors[0]?.body).toContain('Validation Failed');
    expectSuccess(await cli('retry', dead?.id ?? ''));
    await eventually(async () => (commentsOn(4).length === 1 ? true : undefined), 'the retry');
    const purged = parseJson<{ purged: number }>(
      await cli('purge', '--all', '--state', 'dry-run', '--json'),
    );
    expect(purged.purged).toBe(1);
    expect(await list('--state', 'dry-run')).toHaveLength(0);
  });

  it('refuses bad ids and states with one line and exit code 2', async () => {
    expectUsageError(await cli('approve', 'abc'), 'not an action id');
    expectUsageError(await cli('list', '--state', 'nope'), '--state expects one of');
    expectUsageError(await cli('retry'), 'give one or more action ids, or --all');
  });
});

describe('/api/outbox', () => {
  it('lists, approves and rejects with the admin token', async () => {
    await emit('pr.ready', { n: 5 });
    await emit('pr.ready', { n: 6 });
    const waiting = await eventually(async () => {
      const found = (await (await api('?state=pending-approval')).json()) as StoredAction[];
      return found.length === 2 ? found : undefined;
    }, 'two actions waiting');
    const five = waiting.find((a) => (a.params as { issue: number }).issue === 5);
    const six = waiting.find((a) => (a.params as { issue: number }).issue === 6);
    const approved = await api(`/${five?.id ?? ''}/approve`, {
      method: 'POST',
      body: JSON.stringify({ by: 'bob' }),
    });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ state: 'pending', decidedBy: 'bob' });
    expect((await api(`/${six?.id ?? ''}/reject`, { method: 'POST' })).status).toBe(200);
    expect((await api(`/${six?.id ?? ''}/approve`, { method: 'POST' })).status).toBe(409);
    await eventually(async () => (commentsOn(5).length === 1 ? true : undefined), 'the comment');
    expect(commentsOn(6)).toHaveLength(0);
    const unauthorized = await fetch(`${daemon.url}/api/outbox`);
    expect(unauthorized.status).toBe(401);
  });
});
