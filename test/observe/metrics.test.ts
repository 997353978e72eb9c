// GET /metrics after a known workload: counts, retries, dead letters, backlog, histograms, tokens
// and webhook rejects carry exactly the values the workload implies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import {
  eventually,
  postEvents,
  sample,
  startTestDaemon,
  type TestDaemon,
} from './observe-harness.js';

let d: TestDaemon;
let openGate: () => void = () => undefined;
const gate = new Promise<void>((resolve) => (openGate = resolve));

async function scrape(token = d.token): Promise<string> {
  const response = await fetch(`${d.url}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

beforeAll(async () => {
  d = await startTestDaemon({
    server: { readOnlyToken: 'read-only-token-0123456789' },
    routes: [
      on('m.ok', { name: 'ok', handler: () => undefined }),
      on('m.fail', {
        name: 'fail',
        retries: { maxAttempts: 2, initialMs: 10, maxMs: 10 },
        handler: () => {
          throw new Error('always fails');
        },
      }),
      on('m.refuse', {
        name: 'refuse',
        handler: () => {
          throw new NonRetryableError('never');
        },
      }),
      on('m.gate', { name: 'gated', concurrency: 1, handler: () => gate }),
      on('m.agent', {
        name: 'agent',
        handler: () => ({
          usage: {
            inputTokens: 100,
            outputTokens: 20,
            cacheReadTokens: 5,
            cacheWriteTokens: 0,
            costUsd: 0.25,
          },
        }),
      }),
    ],
  });
  await postEvents(d, [
    { type: 'm.ok' },
    { type: 'm.ok' },
    { type: 'm.ok' },
    { type: 'm.fail' },
    { type: 'm.fail' },
    { type: 'm.refuse' },
    { type: 'm.agent' },
    { type: 'm.agent' },
    // One runs, two wait for the route's single slot, two more wait behind their key's head.
    { type: 'm.gate' },
    { type: 'm.gate' },
    { type: 'm.gate' },
    { type: 'm.gate', partitionkey: 'k' },
    { type: 'm.gate', partitionkey: 'k' },
  ]);
  await fetch(`${d.url}/hooks/nowhere`, { method: 'POST', body: '{}' });
  await eventually(async () => {
    const text = await scrape();
    return (
      sample(text, 'agentd_dlq_size', { route: 'fail' }) === 2 &&
      sample(text, 'agentd_runs_total', { route: 'agent', outcome: 'completed' }) === 2 &&
      sample(text, 'agentd_runs_in_flight', { route: 'gated' }) === 1
    );
  });
});

afterAll(async () => {
  openGate();
  await d.stop();
});

describe('GET /metrics', () => {
  it('counts attempts, completions, retries and dead letters per route', async () => {
    const text = await scrape();
    expect(sample(text, 'agentd_attempts_total', { route: 'ok' })).toBe(3);
    expect(sample(text, 'agentd_runs_total', { route: 'ok', outcome: 'completed' })).toBe(3);
    expect(sample(text, 'agentd_attempts_total', { route: 'fail' })).toBe(4);
    expect(sample(text, 'agentd_retries_total', { route: 'fail' })).toBe(2);
    expect(sample(text, 'agentd_runs_total', { route: 'fail', outcome: 'dead' })).toBe(2);
    expect(sample(text, 'agentd_runs_total', { route: 'refuse', outcome: 'dead' })).toBe(1);
    expect(sample(text, 'agentd_retries_total', { route: 'refuse' })).toBe(0);
  });

  it('reports the dead-letter queue size per route from the store', async () => {
    const text = await scrape();
    expect(sample(text, 'agentd_dlq_size', { route: 'fail' })).toBe(2);
    expect(sample(text, 'agentd_dlq_size', { route: 'refuse' })).toBe(1);
    expect(sample(text, 'agentd_dlq_size', { route: 'ok' })).toBe(0);
  });

  it('reports backlog ready and waiting behind a key, and the age of the oldest ready one', async () => {
    const text = await scrape();
    // 5 gated events: 1 running, 3 ready (2 unkeyed + the key's head), 1 waiting behind its head.
    expect(sample(text, 'agentd_runs_in_flight', { route: 'gated' })).toBe(1);
    expect(sample(text, 'agentd_backlog', { route: 'gated', state: 'ready' })).toBe(3);
    expect(sample(text, 'agentd_backlog', { route: 'gated', state: 'waiting' })).toBe(1);
    expect(sample(text, 'agentd_backlog', { route: 'ok', state: 'ready' })).toBe(0);
    expect(sample(text, 'agentd_oldest_ready_age_seconds', { route: 'gated' })).toBeGreaterThan(0);
    expect(sample(text, 'agentd_oldest_ready_age_seconds', { route: 'ok' })).toBe(0);
  });

  it('observes handler durations by outcome and publish-to-start latency on first attempts', async () => {
    const text = await scrape();
    const count = (route: string, outcome: string) =>
      sample(text, 'agentd_handler_duration_seconds_count', { route, outcome });
    expect(count('ok', 'completed')).toBe(3);
    expect(count('fail', 'failed')).toBe(4);
    expect(
      sample(text, 'agentd_handler_duration_seconds_bucket', {
        route: 'ok',
        outcome: 'completed',
        le: '+Inf',
      }),
    ).toBe(3);
    // First attempts only: the two retries of 'fail' are not publish-to-start samples.
    expect(sample(text, 'agentd_publish_to_start_seconds_count', { route: 'fail' })).toBe(2);
    expect(sample(text, 'agentd_publish_to_start_seconds_count', { route: 'ok' })).toBe(3);
    expect(sample(text, 'agentd_publish_to_start_seconds_sum', { route: 'ok' })).toBeLessThan(5);
  });

  it('adds up tokens and cost that agent handlers report, per route', async () => {
    const text = await scrape();
    expect(sample(text, 'agentd_tokens_total', { route: 'agent', kind: 'input' })).toBe(200);
    expect(sample(text, 'agentd_tokens_total', { route: 'agent', kind: 'output' })).toBe(40);
    expect(sample(text, 'agentd_tokens_total', { route: 'agent', kind: 'cache_read' })).toBe(10);
    expect(sample(text, 'agentd_cost_usd_total', { route: 'agent' })).toBeCloseTo(0.5);
    expect(sample(text, 'agentd_tokens_total', { route: 'ok', kind: 'input' })).toBeUndefined();
  });

  it('counts refused webhook requests by source and reason', async () => {
    const text = await scrape();
    expect(
      sample(text, 'agentd_webhook_rejects_total', {
        source: '(unknown)',
        reason: 'unknown-source',
      }),
    ).toBe(1);
  });

  it('needs a token: the read-only one will do', async () => {
    expect((await fetch(`${d.url}/metrics`)).status).toBe(401);
    const text = await scrape('read-only-token-0123456789');
    expect(sample(text, 'agentd_attempts_total', { route: 'ok' })).toBe(3);
  });
});
