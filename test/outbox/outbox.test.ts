// The outbox end to end in one process: recording with the ack, idempotency, the dispatcher's
// retries and DLQ, dry run, approval, run order, chaining, rate limits — against fake GitHub/Slack.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentdConfig } from '../../src/core/config.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { idempotencyKey } from '../../src/outbox/action-recorder.js';
import { GITHUB_TOKEN, startFakeGithub, type FakeGithub } from '../fixtures/fake-github-server.js';
import { SLACK_TOKEN, startFakeSlack, type FakeSlack } from '../fixtures/fake-slack-server.js';
import { sleep, startAgentd, stopAll, until } from './harness.js';

let github: FakeGithub;
let slack: FakeSlack;

beforeEach(async () => {
  github = await startFakeGithub({ repos: ['acme/widgets'] });
  slack = await startFakeSlack({ channels: ['C1'] });
});
afterEach(async () => {
  await stopAll();
  await github.close();
  await slack.close();
});

type Outbox = NonNullable<AgentdConfig['outbox']>;

function outbox(extra: Partial<Outbox> = {}): Outbox {
  return {
    github: {
      kind: 'token',
      token: GITHUB_TOKEN,
      baseUrl: github.url,
      rateLimit: { perSecond: 1_000 },
    },
    slack: { token: SLACK_TOKEN, apiUrl: slack.apiUrl, rateLimit: { perSecond: 1_000 } },
    backoff: { initialMs: 50, maxMs: 200 },
    ...extra,
  };
}

const fast = { maxAttempts: 3, initialMs: 10, maxMs: 20 };
const posts = () =>
  github.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/comments'));
const commentsOn = (issue: number) => github.comments.get(`acme/widgets#${issue}`) ?? [];

/** Comments on issue N and posts to C1 for every `work.item` event with `data.n`. */
const notify = on<{ n: number }>('work.item', {
  name: 'notify',
  retries: fast,
  handler: (event, ctx) => {
    const n = event.data?.n ?? 0;
    ctx.outbox.github.comment({ repo: 'acme/widgets', issue: n, body: `item ${n}` });
    ctx.outbox.slack.postMessage({ channel: 'C1', text: `item ${n}` });
  },
});

describe('recording with the ack', () => {
  it('sends each action of a completed run once, and announces it to a listening route', async () => {
    const completed: AgentdEvent[] = [];
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        notify,
        on('agentd.action.completed', { name: 'watch', handler: (e) => void completed.push(e) }),
      ],
    });
    const event = await agentd.publish('work.item', { data: { n: 1 } });
    await until(() => completed.length === 2, 'two action.completed events');
    expect(commentsOn(1)).toHaveLength(1);
    expect(slack.messages).toHaveLength(1);
    const actions = await agentd.actions();
    expect(actions.map((a) => a.state)).toEqual(['done', 'done']);
    expect(actions.map((a) => a.key).sort()).toEqual(
      [
        idempotencyKey(event, 'notify', 'outbox#1'),
        idempotencyKey(event, 'notify', 'outbox#2'),
      ].sort(),
    );
    const slackDone = completed.find((e) => (e.data as { sink: string }).sink === 'slack');
    expect(slackDone?.causationid).toBe(event.id);
    expect(slackDone?.data).toMatchObject({ action: 'postMessage', result: { channel: 'C1' } });
  });

  it('records nothing for a failed attempt, and the actions of the retry that succeeds once', async () => {
    let attempts = 0;
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        on('work.flaky', {
          retries: fast,
          handler: (_event, ctx) => {
            ctx.outbox.github.comment({ repo: 'acme/widgets', issue: 2, body: 'done' });
            if (++attempts < 3) throw new Error(`attempt ${attempts} fails`);
          },
        }),
      ],
    });
    await agentd.publish('work.flaky');
    await until(() => commentsOn(2).length === 1, 'the comment');
    await sleep(200);
    expect(attempts).toBe(3);
    expect(posts()).toHaveLength(1);
    expect(await agentd.actions()).toHaveLength(1);
  });

  it('keeps the actions of a memoized step when a later part of the run fails', async () => {
    let attempts = 0;
    let stepRuns = 0;
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        on('work.steps', {
          retries: fast,
          handler: async (_event, ctx) => {
            await ctx.step('announce', () => {
              stepRuns++;
              ctx.outbox.slack.postMessage({ channel: 'C1', text: 'from a step' });
              return 'announced';
            });
            ctx.outbox.github.comment({ repo: 'acme/widgets', issue: 3, body: 'after the step' });
            if (++attempts === 1) throw new Error('fails after the step');
          },
        }),
      ],
    });
    await agentd.publish('work.steps');
    await until(() => slack.messages.length === 1 && commentsOn(3).length === 1, 'both actions');
    expect(stepRuns).toBe(1);
    const positions = (await agentd.actions()).map((a) => a.position).sort();
    expect(positions).toEqual(['announce/outbox#1', 'outbox#1']);
  });

  it('fails the run at once when an action names a sink that is not configured', async () => {
    const agentd = await startAgentd({
      routes: [
        on('work.nosink', {
          handler: (_e, ctx) =>
            void ctx.outbox.github.comment({ repo: 'acme/widgets', issue: 1, body: 'x' }),
        }),
      ],
    });
    await agentd.publish('work.nosink');
    await until(async () => (await agentd.bus.dlq.list()).length === 1, 'a dead letter');
    expect((await agentd.bus.dlq.list())[0]?.reason).toMatch(/no github sink is configured/);
  });

  it('fails the run at once on bad parameters, naming the field', async () => {
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        on('work.bad', {
          handler: (_e, ctx) =>
            void ctx.outbox.github.comment({ repo: 'widgets', issue: 1, body: 'x' }),
        }),
      ],
    });
    await agentd.publish('work.bad');
    await until(async () => (await agentd.bus.dlq.list()).length === 1, 'a dead letter');
    expect((await agentd.bus.dlq.list())[0]?.reason).toMatch(/repo: expected "owner\/name"/);
  });
});

describe('the dispatcher', () => {
  it('retries 500s with backoff until the send succeeds', async () => {
    github.fail({ method: 'POST', path: /\/issues\/4\/comments$/, status: 500, times: 2 });
    const agentd = await startAgentd({ outbox: outbox(), routes: [notify] });
    await agentd.publish('work.item', { data: { n: 4 } });
    await until(() => commentsOn(4).length === 1, 'the comment');
    // The fake sees the request before the dispatcher commits the action as done.
    const githubAction = async () => (await agentd.actions()).find((a) => a.sink === 'github');
    await until(async () => (await githubAction())?.state === 'done', 'the action marked done');
    const comment = await githubAction();
    expect(comment).toMatchObject({ state: 'done', attempt: 3 });
    expect(comment?.errors.map((e) => e.status)).toEqual([500, 500]);
    // Attempts after a failure look for their earlier send first (it may have gone through).
    const lookups = github.requests.filter(
      (r) => r.method === 'GET' && r.path.endsWith('/4/comments'),
    );
    expect(lookups).toHaveLength(2);
  });

  it('waits as long as a 429 retry-after says, holding the sink meanwhile', async () => {
    slack.fail({
      path: /chat\.postMessage/,
      method: 'POST',
      status: 429,
      headers: { 'retry-after': '1' },
    });
    const agentd = await startAgentd({ outbox: outbox(), routes: [notify] });
    await agentd.publish('work.item', { data: { n: 5 } });
    await until(() => slack.messages.length === 1, 'the message', 10_000);
    const calls = slack.calls('chat.postMessage');
    expect(calls).toHaveLength(2);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('does not retry a 404 or a 422: the action is dead with the response body', async () => {
    github.fail({
      method: 'POST',
      path: /\/issues\/6\/comments$/,
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'IssueComment', code: 'custom' }],
      },
    });
    const failed: AgentdEvent[] = [];
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        notify,
        on('other.repo', {
          handler: (_e, ctx) =>
            void ctx.outbox.github.comment({ repo: 'acme/gone', issue: 1, body: 'x' }),
        }),
        on('agentd.action.failed', { name: 'failures', handler: (e) => void failed.push(e) }),
      ],
    });
    await agentd.publish('work.item', { data: { n: 6 } });
    await agentd.publish('other.repo');
    await until(() => failed.length === 2, 'two action.failed events');
    const dead = await agentd.bus.outbox.list({ state: 'dead' });
    expect(dead.map((a) => a.errors[0]?.status).sort()).toEqual([404, 422]);
    expect(dead.find((a) => a.errors[0]?.status === 422)?.errors[0]?.body).toContain(
      'Validation Failed',
    );
    expect(dead.every((a) => a.attempt === 1)).toBe(true);
    expect(failed[0]?.data).toMatchObject({ status: 'dead' });
    // The dead comment does not hold back the run's next action.
    await until(() => slack.messages.length === 1, 'the slack message after the dead comment');
  });

  it('sends a dead action again when it is retried by hand', async () => {
    github.fail({ method: 'POST', path: /\/issues\/7\/comments$/, status: 404 });
    const agentd = await startAgentd({ outbox: outbox(), routes: [notify] });
    await agentd.publish('work.item', { data: { n: 7 } });
    await until(async () => (await agentd.bus.outbox.list({ state: 'dead' })).length === 1, 'dead');
    const [dead] = await agentd.bus.outbox.list({ state: 'dead' });
    expect(await agentd.bus.outbox.retryDead([dead?.id ?? ''])).toBe(1);
    await until(() => commentsOn(7).length === 1, 'the comment after the retry');
  });

  it('sends a run\u2019s actions in the order they were recorded', async () => {
    github.fail({ method: 'POST', path: /\/issues\/8\/comments$/, status: 503, times: 2 });
    const agentd = await startAgentd({ outbox: outbox(), routes: [notify] });
    await agentd.publish('work.item', { data: { n: 8 } });
    await until(() => slack.messages.length === 1, 'the slack message');
    const created = github.requests.find((r) => r.method === 'POST' && r.status === 201);
    expect(created?.at).toBeLessThanOrEqual(slack.calls('chat.postMessage')[0]?.at ?? 0);
  });

  it('keeps to a sink\u2019s rate limit', async () => {
    const agentd = await startAgentd({
      outbox: outbox({
        github: {
          kind: 'token',
          token: GITHUB_TOKEN,
          baseUrl: github.url,
          rateLimit: { perSecond: 10, burst: 1 },
        },
      }),
      routes: [
        on('work.many', {
          handler: (_e, ctx) => {
            for (let i = 0; i < 6; i++)
              ctx.outbox.github.comment({ repo: 'acme/widgets', issue: 20 + i, body: 'x' });
          },
        }),
      ],
    });
    await agentd.publish('work.many');
    await until(() => posts().length === 6, 'six comments');
    const times = posts().map((r) => r.at);
    expect((times[5] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(450);
  });

  it('publishes bus actions in the run\u2019s chain, once', async () => {
    const chained: AgentdEvent[] = [];
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        on('work.chain', {
          handler: (_e, ctx) => void ctx.outbox.bus.publish({ type: 'work.next', data: { k: 1 } }),
        }),
        on('work.next', { handler: (e) => void chained.push(e) }),
      ],
    });
    const root = await agentd.publish('work.chain');
    await until(() => chained.length === 1, 'the chained event');
    expect(chained[0]).toMatchObject({
      causationid: root.id,
      correlationid: root.correlationid,
      depth: 1,
    });
  });
});

describe('dry run', () => {
  it('records and lists every action without a request reaching GitHub or Slack', async () => {
    const agentd = await startAgentd({ outbox: outbox({ dryRun: true }), routes: [notify] });
    await agentd.publish('work.item', { data: { n: 9 } });
    await until(async () => (await agentd.actions()).length === 2, 'two recorded actions');
    await sleep(300);
    expect(github.requests).toHaveLength(0);
    expect(slack.requests).toHaveLength(0);
    const actions = await agentd.actions();
    expect(actions.map((a) => a.state)).toEqual(['dry-run', 'dry-run']);
    expect(actions.find((a) => a.sink === 'github')?.params).toMatchObject({
      issue: 9,
      body: 'item 9',
    });
  });

  it('dry-runs one route while others send, and needs no sink configured', async () => {
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        notify,
        on('work.trial', {
          dryRun: true,
          handler: (_e, ctx) => void ctx.outbox.http.post({ target: 'nowhere', body: {} }),
        }),
      ],
    });
    await agentd.publish('work.trial');
    await agentd.publish('work.item', { data: { n: 10 } });
    await until(() => commentsOn(10).length === 1, 'the real route\u2019s comment');
    const trial = await agentd.bus.outbox.list({ route: 'work.trial' });
    expect(trial.map((a) => a.state)).toEqual(['dry-run']);
  });
});

describe('approval', () => {
  const approved = (extra: { expiresInMs?: number } = {}) =>
    on<{ n: number }>('work.item', {
      name: 'guarded',
      approval: extra.expiresInMs === undefined ? true : { expiresInMs: extra.expiresInMs },
      handler: (event, ctx) =>
        void ctx.outbox.github.comment({
          repo: 'acme/widgets',
          issue: event.data?.n ?? 0,
          body: 'ok?',
        }),
    });

  it('holds an action until an operator approves it, then sends it', async () => {
    const agentd = await startAgentd({ outbox: outbox(), routes: [approved()] });
    await agentd.publish('work.item', { data: { n: 11 } });
    await until(async () => (await agentd.actions()).length === 1, 'the recorded action');
    await sleep(300);
    expect(github.requests).toHaveLength(0);
    const [waiting] = await agentd.actions();
    expect(waiting?.state).toBe('pending-approval');
    await agentd.bus.outbox.approve([waiting?.id ?? ''], 'ada');
    await until(() => commentsOn(11).length === 1, 'the approved comment');
    expect((await agentd.bus.outbox.show(waiting?.id ?? ''))?.decidedBy).toBe('ada');
  });

  it('never sends a rejected action', async () => {
    const agentd = await startAgentd({ outbox: outbox(), routes: [approved()] });
    await agentd.publish('work.item', { data: { n: 12 } });
    await until(async () => (await agentd.actions()).length === 1, 'the recorded action');
    const [waiting] = await agentd.actions();
    const rejected = await agentd.bus.outbox.reject(
      [waiting?.id ?? ''],
      'ada',
      'not today',
      () => [],
    );
    expect(rejected).toHaveLength(1);
    expect(await agentd.bus.outbox.approve([waiting?.id ?? ''], 'bob')).toHaveLength(0);
    await sleep(500);
    expect(github.requests).toHaveLength(0);
    expect((await agentd.actions())[0]).toMatchObject({ state: 'rejected', reason: 'not today' });
  });

  it('never sends an action whose approval expired', async () => {
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [approved({ expiresInMs: 200 })],
    });
    await agentd.publish('work.item', { data: { n: 13 } });
    await until(async () => (await agentd.actions())[0]?.state === 'expired', 'the expiry', 5_000);
    const [expired] = await agentd.actions();
    expect(await agentd.bus.outbox.approve([expired?.id ?? ''], 'late')).toHaveLength(0);
    await sleep(300);
    expect(github.requests).toHaveLength(0);
  });

  it('holds one action for approval while the run\u2019s earlier ones go out', async () => {
    const agentd = await startAgentd({
      outbox: outbox(),
      routes: [
        on('work.mixed', {
          handler: (_e, ctx) => {
            ctx.outbox.slack.postMessage({ channel: 'C1', text: 'about to label' });
            ctx.outbox.github.labels(
              { repo: 'acme/widgets', issue: 14, add: ['risky'] },
              { approval: true },
            );
          },
        }),
      ],
    });
    await agentd.publish('work.mixed');
    await until(() => slack.messages.length === 1, 'the message');
    // The sink answered; the action is marked done once the dispatcher has read that answer.
    const states = async () => (await agentd.actions()).map((a) => `${a.sink}:${a.state}`).sort();
    await until(async () => (await states()).includes('slack:done'), 'the message marked done');
    expect(await states()).toEqual(['github:pending-approval', 'slack:done']);
    expect(slack.messages).toHaveLength(1);
  });
});
