// ctx.waitForEvent: a durable wait that holds no worker slot, survives a restart, resumes the run
// when a matching event is published, and fails cleanly when its time runs out.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import type { AgentdConfig } from '../../src/core/config.js';
import { EventWaitTimeoutError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import { GITHUB_TOKEN, startFakeGithub, type FakeGithub } from '../fixtures/fake-github-server.js';
import { SLACK_TOKEN, startFakeSlack, type FakeSlack } from '../fixtures/fake-slack-server.js';
import { sleep, startAgentd, stopAll, until, type Harness } from './harness.js';

let github: FakeGithub;
let slack: FakeSlack;

beforeEach(async () => {
  github = await startFakeGithub();
  slack = await startFakeSlack();
});
afterEach(async () => {
  await stopAll();
  await github.close();
  await slack.close();
});

interface Question {
  issue: number;
}
interface ActionDone {
  key: string;
  result: { ts: string };
}
interface SlackMessage {
  event: { text: string; thread_ts?: string };
}

let handlerStarts = 0;

/** Asks in Slack, waits for the reply in the thread, answers on GitHub with it. */
function config(): AgentdConfig {
  return {
    outbox: {
      github: {
        kind: 'token',
        token: GITHUB_TOKEN,
        baseUrl: github.url,
        rateLimit: { perSecond: 100 },
      },
      slack: { token: SLACK_TOKEN, apiUrl: slack.apiUrl, rateLimit: { perSecond: 100 } },
    },
    routes: [
      on<Question>('question.asked', {
        name: 'ask',
        concurrency: 1,
        handler: async (event, ctx) => {
          handlerStarts++;
          const issue = event.data?.issue ?? 0;
          const asked = ctx.outbox.slack.postMessage({ channel: 'C1', text: `Ship #${issue}?` });
          // The message's ts is known once it is sent: the action's completion carries it.
          const posted = await ctx.waitForEvent<ActionDone>('agentd.action.completed', {
            match: { data: { key: asked.key } },
          });
          const reply = await ctx.waitForEvent<SlackMessage>('slack.message', {
            match: { data: { event: { thread_ts: posted.data?.result.ts } } },
            timeoutMs: 60_000,
          });
          ctx.outbox.github.comment({
            repo: 'acme/widgets',
            issue,
            body: `answer: ${reply.data?.event.text ?? ''}`,
          });
        },
      }),
    ],
  };
}

function runStatus(agentd: Harness): string[] {
  return new SqliteInspector(agentd.bus.db).runs({ route: 'ask', limit: 100 }).map((r) => r.status);
}

function threadOf(issue: number): string | undefined {
  return slack.messages.find((m) => m.text === `Ship #${issue}?`)?.ts;
}

describe('ctx.waitForEvent', () => {
  it('parks without a worker slot, survives a restart and resumes when the reply arrives', async () => {
    handlerStarts = 0;
    let agentd = await startAgentd(config());
    await agentd.publish('question.asked', { data: { issue: 1 } });
    await until(() => threadOf(1) !== undefined, 'the first question in Slack');
    // With concurrency 1, a second run only starts because the first one holds no slot.
    await agentd.publish('question.asked', { data: { issue: 2 } });
    await until(() => threadOf(2) !== undefined, 'the second question in Slack');
    await until(() => runStatus(agentd).every((s) => s === 'waiting'), 'both runs waiting');

    agentd = await agentd.restart();
    await sleep(300);
    expect(runStatus(agentd)).toEqual(['waiting', 'waiting']);

    await agentd.publish('slack.message', {
      data: { event: { text: 'yes, ship it', thread_ts: threadOf(1), channel: 'C1' } },
    });
    await until(() => (github.comments.get('acme/widgets#1') ?? []).length === 1, 'the answer');
    expect(github.comments.get('acme/widgets#1')?.[0]?.body).toMatch(/^answer: yes, ship it/);
    expect(github.comments.get('acme/widgets#2')).toBeUndefined();
    // Replays re-recorded the question: still one message per run.
    expect(slack.calls('chat.postMessage')).toHaveLength(2);
    expect(runStatus(agentd).sort()).toEqual(['completed', 'waiting']);
    // Two questions, two resumes after the message was sent, one after the reply.
    expect(handlerStarts).toBe(5);
  });

  it('fails the run cleanly when its time runs out, across a restart too', async () => {
    const agentd = await startAgentd({
      routes: [
        on('deploy.requested', {
          name: 'strict',
          handler: async (_e, ctx) => {
            await ctx.waitForEvent('deploy.approved', { timeoutMs: 1_000 });
          },
        }),
      ],
    });
    await agentd.publish('deploy.requested');
    await until(
      () =>
        new SqliteInspector(agentd.bus.db).runs({ route: 'strict', limit: 5 })[0]?.status ===
        'waiting',
      'the parked run',
    );
    const restarted = await agentd.restart();
    await until(
      async () => (await restarted.bus.dlq.list()).length === 1,
      'the dead letter',
      10_000,
    );
    const [dead] = await restarted.bus.dlq.list();
    expect(dead?.reason).toMatch(
      /EventWaitTimeoutError: no deploy.approved event matched within 1000 ms/,
    );
    expect(dead?.attempts).toBe(1);
  });

  it('lets a handler catch the timeout and carry on', async () => {
    const outcomes: string[] = [];
    const agentd = await startAgentd({
      routes: [
        on('deploy.requested', {
          handler: async (_e, ctx) => {
            try {
              await ctx.waitForEvent('deploy.approved', { timeoutMs: 200 });
              outcomes.push('approved');
            } catch (error) {
              outcomes.push(error instanceof EventWaitTimeoutError ? 'timed out' : 'other');
            }
          },
        }),
      ],
    });
    await agentd.publish('deploy.requested');
    await until(() => outcomes.length === 1, 'the outcome', 10_000);
    expect(outcomes).toEqual(['timed out']);
  });

  it('sees a matching event published while the handler still ran, before it parked', async () => {
    const got: unknown[] = [];
    const agentd = await startAgentd({
      routes: [
        on<string>('job.started', {
          handler: async (event, ctx) => {
            await ctx.step('kick', async () => {
              await agentd.publish('job.done', { data: { job: event.data } });
            });
            const done = await ctx.waitForEvent('job.done', {
              match: { data: { job: event.data } },
            });
            got.push(done.data);
          },
        }),
      ],
    });
    await agentd.publish('job.started', { data: 'j1' });
    await until(() => got.length === 1, 'the resumed run');
    expect(got).toEqual([{ job: 'j1' }]);
  });

  it('refuses a pattern with an undefined field, which would match anything', async () => {
    const agentd = await startAgentd({
      routes: [
        on('order.placed', {
          handler: async (_e, ctx) => {
            await ctx.waitForEvent('order.paid', { match: { data: { order: undefined } } });
          },
        }),
      ],
    });
    await agentd.publish('order.placed');
    await until(async () => (await agentd.bus.dlq.list()).length === 1, 'the dead letter');
    expect((await agentd.bus.dlq.list())[0]?.reason).toMatch(/match\.data\.order is undefined/);
  });

  it('ignores events that do not match the pattern', async () => {
    const got: unknown[] = [];
    const agentd = await startAgentd({
      routes: [
        on('order.placed', {
          handler: async (_e, ctx) => {
            const paid = await ctx.waitForEvent('order.paid', { match: { data: { order: 7 } } });
            got.push(paid.data);
          },
        }),
      ],
    });
    await agentd.publish('order.placed');
    await sleep(200);
    await agentd.publish('order.paid', { data: { order: 8 } });
    await sleep(300);
    expect(got).toEqual([]);
    await agentd.publish('order.paid', { data: { order: 7, amount: 10 } });
    await until(() => got.length === 1, 'the match');
    expect(got).toEqual([{ order: 7, amount: 10 }]);
  });
});
