// ctx.waitForEvent on SQLite: the shared scenarios (wait-for-event-suite.ts), and a wait on the
// outbox's own completion event followed by a reply from Slack, answered on GitHub.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import type { AgentdConfig } from '../../src/core/config.js';
import { on } from '../../src/core/route.js';
import { GITHUB_TOKEN, startFakeGithub, type FakeGithub } from '../fixtures/fake-github-server.js';
import { SLACK_TOKEN, startFakeSlack, type FakeSlack } from '../fixtures/fake-slack-server.js';
import { sleep, startAgentd, stopAll, until, type Harness } from './harness.js';
import { waitForEventSuite } from './wait-for-event-suite.js';

waitForEventSuite({
  name: 'SqliteBus',
  start: startAgentd,
  stopAll,
  until,
});

let github: FakeGithub;
let slack: FakeSlack;

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

describe('ctx.waitForEvent on outbox actions and Slack replies', () => {
  beforeEach(async () => {
    github = await startFakeGithub();
    slack = await startFakeSlack();
  });
  afterEach(async () => {
    await stopAll();
    await github.close();
    await slack.close();
  });

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
});
