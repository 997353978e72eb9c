// Backpressure at the real ingress app over a real SqliteBus: POST /events and signed webhooks to
// a full route get 429 with Retry-After and the full routes named, nothing is stored, the refusal
// is counted per source and route, and the same request once there is room is stored once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SUBSCRIPTION, type Subscription } from '../../src/bus/bus.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { BacklogGate } from '../../src/governor/backpressure.js';
import { createLogger, type Logger } from '../../src/observe/log.js';
import { RejectCounter } from '../../src/observe/reject-counter.js';
import { createHttpApp, EVENTS_API_SOURCE } from '../../src/server/http-app.js';
import type { HttpSource } from '../../src/sources/source.js';
import { SlackWebhookSource } from '../../src/sources/webhook/slack/slack-webhook-source.js';
import {
  StandardWebhookSource,
  standardVerifiers,
} from '../../src/sources/webhook/standard/standard-webhook-source.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { uncachedBacklogs } from './backpressure-view.js';
import { slackHeaders, standardHeaders } from '../sources/webhook/webhook-harness.js';

const SECRET = `whsec_${Buffer.from('a standard webhooks test key 32b').toString('base64')}`;
const SLACK_SECRET = 'slack-signing-secret-for-backpressure';

interface Ingress {
  app: Hono;
  bus: SqliteBus;
  clock: ManualClock;
  rejects: RejectCounter;
  invoices: Subscription;
  /** Log lines at warn and above, parsed. */
  lines: Array<Record<string, unknown>>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** The ingress with a `billing` Standard Webhooks source, a Slack source, and a route of limit 2. */
async function ingress(): Promise<Ingress> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-backpressure-ingress-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  const controller = new AbortController();
  cleanups.push(async () => {
    controller.abort();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log: Logger = createLogger({ level: 'warn', destination: sink, pretty: false });
  const invoices = await bus.subscribe('invoices', {
    ...DEFAULT_SUBSCRIPTION,
    types: ['billing.**', 'slack.*'],
  });
  const clock = new ManualClock('2026-05-01T10:00:00Z');
  const gate = new BacklogGate({
    bus: uncachedBacklogs(bus),
    limits: new Map([['invoices', 2]]),
    clock,
  });
  const publish = gate.guard((events) => bus.publish(events));
  const sources: HttpSource[] = [
    new StandardWebhookSource({
      name: 'billing',
      verifiers: standardVerifiers([SECRET], 'sources[0].secret'),
      insecure: false,
      type: 'billing.{{type}}',
      log,
    }),
    new SlackWebhookSource({ name: 'slack', signingSecrets: [SLACK_SECRET], log }),
  ];
  for (const source of sources) await source.start(publish, controller.signal);
  const rejects = new RejectCounter();
  const app = createHttpApp({ publish, isReady: () => true, log, node: 'test', sources, rejects });
  return { app, bus, clock, rejects, invoices, lines };
}

const invoice = (n: number) => JSON.stringify({ type: 'invoice.paid', data: { n } });
const postHook = (h: Ingress, name: string, body: string, headers: Record<string, string>) =>
  h.app.request(`/hooks/${name}`, { method: 'POST', body, headers });
const storedCount = (h: Ingress) =>
  h.bus.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM events`).get()!.n;

async function fill(h: Ingress): Promise<void> {
  for (const n of [1, 2]) {
    const body = invoice(n);
    expect(
      (await postHook(h, 'billing', body, standardHeaders(body, SECRET, `m${n}`))).status,
    ).toBe(202);
  }
}

describe('ingress backpressure', () => {
  it('answers a webhook to a full route 429 with Retry-After and the full route, storing nothing', async () => {
    const h = await ingress();
    await fill(h);
    const body = invoice(3);
    const res = await postHook(h, 'billing', body, standardHeaders(body, SECRET, 'm3'));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.json()).toMatchObject({
      reason: 'backlog-full',
      retryAfterSeconds: Number(res.headers.get('retry-after')),
      routes: [{ route: 'invoices', backlog: 2, limit: 2 }],
    });
    expect(storedCount(h)).toBe(2);
    expect(h.rejects.snapshot()).toEqual([
      { source: 'billing', reason: 'backlog-full', route: 'invoices', count: 1 },
    ]);
    expect(h.lines).toContainEqual(
      expect.objectContaining({ source: 'billing', reason: 'backlog-full', 'webhook-id': 'm3' }),
    );
  });

  it("stores the sender's retry once the route has room, and only once", async () => {
    const h = await ingress();
    await fill(h);
    const body = invoice(3);
    expect((await postHook(h, 'billing', body, standardHeaders(body, SECRET, 'm3'))).status).toBe(
      429,
    );
    for (const delivery of await h.invoices.pull({ max: 2, waitMs: 0 })) await delivery.ack();
    await h.clock.advanceBy(1_000);
    const retry = await postHook(h, 'billing', body, standardHeaders(body, SECRET, 'm3'));
    expect(retry.status).toBe(202);
    expect(storedCount(h)).toBe(3);
    const again = await postHook(h, 'billing', body, standardHeaders(body, SECRET, 'm3'));
    expect(await again.json()).toMatchObject({ accepted: [{ id: 'm3', duplicate: true }] });
    expect(storedCount(h)).toBe(3);
  });

  it('answers POST /events to a full route 429, counted under (api), and lets other types through', async () => {
    const h = await ingress();
    await fill(h);
    const post = (type: string) =>
      h.app.request('/events', {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify([{ type: 'audit.note' }, { type }]),
      });
    const res = await post('billing.invoice.paid');
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toMatchObject({ routes: [{ route: 'invoices' }] });
    expect(storedCount(h)).toBe(2);
    expect(h.rejects.snapshot()).toEqual([
      { source: EVENTS_API_SOURCE, reason: 'backlog-full', route: 'invoices', count: 1 },
    ]);
    // Nobody subscribes to these types: never refused, however full other routes are.
    expect((await post('audit.other')).status).toBe(202);
    expect(storedCount(h)).toBe(4);
  });

  it('checks signatures first: an unsigned request to a full route is 401, not 429', async () => {
    const h = await ingress();
    await fill(h);
    const res = await postHook(h, 'billing', invoice(3), { 'content-type': 'application/json' });
    expect(res.status).toBe(401);
  });

  it("logs the refusal of Slack's last retry as an error: Slack gives up on that event", async () => {
    const h = await ingress();
    await fill(h);
    const callback = (id: string) =>
      JSON.stringify({
        type: 'event_callback',
        event_id: id,
        event_time: 1_777_000_000,
        event: { type: 'app_mention', channel: 'C1', text: 'hi' },
      });
    const first = callback('Ev1');
    const res = await postHook(h, 'slack', first, slackHeaders(first, SLACK_SECRET));
    expect(res.status).toBe(429);
    expect(h.lines.filter((l) => l.level === 50)).toEqual([]);
    const last = callback('Ev2');
    const lastRes = await postHook(h, 'slack', last, {
      ...slackHeaders(last, SLACK_SECRET),
      'x-slack-retry-num': '3',
      'x-slack-retry-reason': 'http_error',
    });
    expect(lastRes.status).toBe(429);
    const errors = h.lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ source: 'slack', 'x-slack-retry-num': '3' });
    expect(errors[0]!.msg).toContain('the event is lost');
  });
});
