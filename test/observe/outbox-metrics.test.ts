// GET /metrics after a known outbox workload: sends counted per sink and outcome, their durations,
// and what waits per sink (pending approval, dead) read from the store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { on } from '../../src/core/route.js';
import { startRecordingServer, type RecordingServer } from '../fixtures/recording-server.js';
import {
  eventually,
  postEvents,
  sample,
  startTestDaemon,
  type TestDaemon,
} from './observe-harness.js';

let d: TestDaemon;
let hook: RecordingServer;

async function scrape(): Promise<string> {
  const response = await fetch(`${d.url}/metrics`, {
    headers: { authorization: `Bearer ${d.token}` },
  });
  return response.text();
}

beforeAll(async () => {
  // The server refuses everything: every http action fails, is retried once, then is dead; the
  // slack action fails once and its retry waits for the sink's rate limit (one send per 1,000 s).
  hook = await startRecordingServer(() => ({ status: 500, body: { error: 'down' } }));
  d = await startTestDaemon({
    outbox: {
      http: { targets: { hook: { url: `${hook.url}/hook` } } },
      slack: {
        token: 'xoxb-test',
        apiUrl: `${hook.url}/slack/`,
        rateLimit: { perSecond: 0.001, burst: 1 },
      },
      maxAttempts: 2,
      backoff: { initialMs: 10, maxMs: 20 },
    },
    routes: [
      on('o.publish', {
        name: 'publisher',
        handler: (_event, ctx) => {
          ctx.outbox.bus.publish({ type: 'o.published' });
        },
      }),
      on('o.post', {
        name: 'poster',
        handler: (_event, ctx) => {
          ctx.outbox.http.post({ target: 'hook', body: { hello: 'world' } });
        },
      }),
      on('o.say', {
        name: 'sayer',
        handler: (_event, ctx) => {
          ctx.outbox.slack.postMessage({ channel: 'C1', text: 'hello' });
        },
      }),
      on('o.ask', {
        name: 'asker',
        handler: (_event, ctx) => {
          ctx.outbox.bus.publish({ type: 'o.approved' }, { approval: true });
        },
      }),
    ],
  });
  await postEvents(d, [
    { type: 'o.publish' },
    { type: 'o.publish' },
    { type: 'o.post' },
    { type: 'o.say' },
    { type: 'o.ask' },
  ]);
  await eventually(async () => {
    const text = await scrape();
    return (
      sample(text, 'agentd_outbox_sends_total', { sink: 'bus', outcome: 'sent' }) === 2 &&
      sample(text, 'agentd_outbox_dead', { sink: 'http' }) === 1 &&
      sample(text, 'agentd_outbox_sends_total', { sink: 'slack', outcome: 'retry' }) === 1 &&
      sample(text, 'agentd_outbox_awaiting_approval', { sink: 'bus' }) === 1
    );
  });
});

afterAll(async () => {
  await d.stop();
  await hook.close();
});

describe('outbox metrics', () => {
  it('count sends per sink and outcome', async () => {
    const text = await scrape();
    expect(sample(text, 'agentd_outbox_sends_total', { sink: 'bus', outcome: 'sent' })).toBe(2);
    expect(sample(text, 'agentd_outbox_sends_total', { sink: 'http', outcome: 'retry' })).toBe(1);
    expect(sample(text, 'agentd_outbox_sends_total', { sink: 'http', outcome: 'dead' })).toBe(1);
    expect(sample(text, 'agentd_outbox_sends_total', { sink: 'http', outcome: 'sent' })).toBe(0);
    expect(sample(text, 'agentd_outbox_sends_total', { sink: 'slack', outcome: 'retry' })).toBe(1);
    expect(hook.requests.filter((r) => r.path === '/hook')).toHaveLength(2);
  });

  it('time every send, failed ones included', async () => {
    const text = await scrape();
    expect(sample(text, 'agentd_outbox_send_seconds_count', { sink: 'bus' })).toBe(2);
    expect(sample(text, 'agentd_outbox_send_seconds_count', { sink: 'http' })).toBe(2);
    expect(sample(text, 'agentd_outbox_send_seconds_bucket', { sink: 'http', le: '+Inf' })).toBe(2);
  });

  it('show what waits per sink: pending, approval, dead', async () => {
    const text = await scrape();
    expect(sample(text, 'agentd_outbox_awaiting_approval', { sink: 'bus' })).toBe(1);
    expect(sample(text, 'agentd_outbox_dead', { sink: 'http' })).toBe(1);
    expect(sample(text, 'agentd_outbox_dead', { sink: 'bus' })).toBe(0);
    expect(sample(text, 'agentd_outbox_pending', { sink: 'slack' })).toBe(1);
    expect(sample(text, 'agentd_outbox_pending', { sink: 'http' })).toBe(0);
    expect(sample(text, 'agentd_outbox_pending', { sink: 'bus' })).toBe(0);
  });

  it('move an approved action from awaiting approval to sent', async () => {
    const list = await fetch(`${d.url}/api/outbox?state=pending-approval`, {
      headers: { authorization: `Bearer ${d.token}` },
    });
    const [waiting] = (await list.json()) as { id: string }[];
    expect(waiting).toBeDefined();
    const approved = await fetch(`${d.url}/api/outbox/${waiting?.id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}` },
    });
    expect(approved.status).toBe(200);
    await eventually(async () => {
      const text = await scrape();
      return sample(text, 'agentd_outbox_sends_total', { sink: 'bus', outcome: 'sent' }) === 3;
    });
    const text = await scrape();
    expect(sample(text, 'agentd_outbox_awaiting_approval', { sink: 'bus' })).toBe(0);
    expect(sample(text, 'agentd_outbox_pending', { sink: 'bus' })).toBe(0);
  });
});
