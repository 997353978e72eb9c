// The ingress backlog gate over a real SqliteBus, on a controllable clock: a route at its
// maxBacklog refuses whole publishes (nothing stored), types nobody subscribes to pass, the
// backlogs are read once per refresh interval with admissions counted in between, and Retry-After
// follows the drain rate measured between reads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SUBSCRIPTION, type Subscription } from '../../src/bus/bus.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import {
  BacklogFullError,
  BacklogGate,
  UNKNOWN_RATE_RETRY_S,
  backlogGateFor,
  retryAfterSeconds,
  type BacklogView,
} from '../../src/governor/backpressure.js';
import { RefusalLog } from '../../src/governor/backpressure-log.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { capturedLog, uncachedBacklogs } from './backpressure-view.js';

let dir: string | undefined;
let bus: SqliteBus | undefined;

afterEach(async () => {
  await bus?.close();
  bus = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function openBus(): SqliteBus {
  dir = mkdtempSync(join(tmpdir(), 'agentd-backpressure-'));
  bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  return bus;
}

const subscribe = (b: SqliteBus, name: string, types: string[]) =>
  b.subscribe(name, { ...DEFAULT_SUBSCRIPTION, types, ordering: 'none' });

let seq = 0;
const event = (type: string): AgentdEvent =>
  toEvent(
    { type, id: `e${++seq}`, data: {} },
    { source: 'test://backpressure', trust: 'operator' },
  );
const events = (type: string, n: number) => Array.from({ length: n }, () => event(type));

/** Finishes `n` deliveries of the subscription (its runs completed). */
async function drain(subscription: Subscription, n: number): Promise<void> {
  const deliveries = await subscription.pull({ max: n, waitMs: 0 });
  expect(deliveries).toHaveLength(n);
  for (const delivery of deliveries) await delivery.ack();
}

async function refusal(promise: Promise<unknown>): Promise<BacklogFullError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BacklogFullError);
  return error as BacklogFullError;
}

describe('backlog gate', () => {
  it('refuses a publish fanned out to a route at its maxBacklog and stores none of it', async () => {
    const b = openBus();
    await subscribe(b, 'review', ['pr.*']);
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    const gate = new BacklogGate({
      bus: uncachedBacklogs(b),
      limits: new Map([['review', 3]]),
      clock,
    });
    const publish = gate.guard((list) => b.publish(list));

    // Between two reads of the backlogs, what the gate admitted counts: the 4th is refused.
    for (let i = 0; i < 3; i++) await publish([event('pr.opened')]);
    const error = await refusal(publish([event('pr.opened'), event('pr.closed')]));
    expect(error.routes).toEqual([{ route: 'review', backlog: 3, limit: 3 }]);
    expect(error.code).toBe('BACKLOG_FULL');
    expect(error.retryAfterSeconds).toBe(UNKNOWN_RATE_RETRY_S);
    expect(error.retryAfterMs).toBe(UNKNOWN_RATE_RETRY_S * 1_000);

    await clock.advanceBy(1_000);
    await expect(publish([event('pr.opened')])).rejects.toBeInstanceOf(BacklogFullError);
    expect(b.countBacklogs().get('review')).toBe(3);
  });

  it('never refuses types nobody subscribes to, nor events for a route with room', async () => {
    const b = openBus();
    await subscribe(b, 'review', ['pr.*']);
    await subscribe(b, 'notify', ['pr.closed', 'chat.*']);
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    const gate = new BacklogGate({
      bus: uncachedBacklogs(b),
      limits: new Map([['review', 2]]),
      defaultLimit: 100,
      clock,
    });
    const publish = gate.guard((list) => b.publish(list));
    await publish(events('pr.opened', 2));

    await publish(events('nobody.listens', 50));
    await publish(events('chat.message', 5));
    // pr.closed goes to review (full) and notify (room): refused whole, for review only.
    const error = await refusal(publish([event('chat.message'), event('pr.closed')]));
    expect(error.routes.map((r) => r.route)).toEqual(['review']);
    await clock.advanceBy(1_000);
    expect(Object.fromEntries(b.countBacklogs())).toMatchObject({ review: 2, notify: 5 });
  });

  it('reads the backlogs once per refresh interval, however many requests come', async () => {
    const b = openBus();
    await subscribe(b, 'review', ['pr.*']);
    let reads = 0;
    const counted: BacklogView = {
      backlogs: () => {
        reads++;
        return b.backlogs();
      },
      subscribersOf: (type) => b.subscribersOf(type),
    };
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    const gate = new BacklogGate({ bus: counted, clock, refreshMs: 250 });

    await Promise.all(Array.from({ length: 50 }, () => gate.admit([event('pr.opened')])));
    expect(reads).toBe(1);
    await clock.advanceBy(249);
    await gate.admit([event('pr.opened')]);
    expect(reads).toBe(1);
    await clock.advanceBy(1);
    await gate.admit([event('pr.opened')]);
    expect(reads).toBe(2);
    // Types nobody subscribes to need no read at all.
    await clock.advanceBy(1_000);
    await gate.admit([event('nobody.listens')]);
    expect(reads).toBe(2);
  });

  it('admits again once deliveries finished and the next read sees room', async () => {
    const b = openBus();
    const review = await subscribe(b, 'review', ['pr.*']);
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    const gate = new BacklogGate({
      bus: uncachedBacklogs(b),
      limits: new Map([['review', 2]]),
      clock,
    });
    const publish = gate.guard((list) => b.publish(list));
    await publish(events('pr.opened', 2));
    await expect(publish([event('pr.opened')])).rejects.toBeInstanceOf(BacklogFullError);

    await drain(review, 1);
    // Still the old view: room shows only at the next read.
    await expect(publish([event('pr.opened')])).rejects.toBeInstanceOf(BacklogFullError);
    await clock.advanceBy(250);
    await publish([event('pr.opened')]);
    await expect(publish([event('pr.opened')])).rejects.toBeInstanceOf(BacklogFullError);
  });

  it('tells senders to come back when the measured drain has made room, or in 60 s when nothing drains', async () => {
    const b = openBus();
    const review = await subscribe(b, 'review', ['pr.*']);
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    const gate = new BacklogGate({
      bus: uncachedBacklogs(b),
      limits: new Map([['review', 100]]),
      clock,
    });
    const publish = gate.guard((list) => b.publish(list));
    // Below the limit, a batch is admitted whole: the limit is soft.
    await publish(events('pr.opened', 400));

    // 10 finished in the first second: 10/s; 390 - 90 (90% of the limit) = 300 to go: 30 s.
    await drain(review, 10);
    await clock.advanceBy(1_000);
    expect((await refusal(publish([event('pr.opened')]))).retryAfterSeconds).toBe(30);

    // 50 in the next second (the smoothed rate: 0.7 × 10 + 0.3 × 50 = 22/s): 250 / 22 → 12 s.
    await drain(review, 50);
    await clock.advanceBy(1_000);
    expect((await refusal(publish([event('pr.opened')]))).retryAfterSeconds).toBe(12);

    // Stuck handlers: the rate decays towards nothing and the answer grows to the 60 s ceiling.
    for (let i = 0; i < 20; i++) {
      await clock.advanceBy(1_000);
      await refusal(publish([event('pr.opened')]));
    }
    expect((await refusal(publish([event('pr.opened')]))).retryAfterSeconds).toBe(60);
  });

  it('takes route.maxBacklog, else governor.maxBacklog, else 10,000', () => {
    const b = openBus();
    const gate = backlogGateFor(
      {
        routes: [
          { name: 'small', types: ['a'], handler: () => undefined, maxBacklog: 5 },
          { name: 'plain', types: ['b'], handler: () => undefined },
        ],
        governor: { maxBacklog: 700 },
      },
      b,
    );
    expect(gate.limitOf('small')).toBe(5);
    expect(gate.limitOf('plain')).toBe(700);
    expect(backlogGateFor({ routes: [] }, b).limitOf('any')).toBe(10_000);
  });
});

describe('retryAfterSeconds', () => {
  it('is the drain time down to 90% of the limit, in whole seconds within 1..60', () => {
    expect(retryAfterSeconds(200, 200, 10)).toBe(2); // 20 to go at 10/s
    expect(retryAfterSeconds(201, 200, 1_000)).toBe(1); // never under 1 s
    expect(retryAfterSeconds(10_000, 200, 1)).toBe(60); // never over 60 s
    expect(retryAfterSeconds(200, 200, 0)).toBe(60);
    expect(retryAfterSeconds(200, 200, undefined)).toBe(UNKNOWN_RATE_RETRY_S);
  });
});

describe('refusal log', () => {
  it('logs the first refusal of a sender at once and counts the rest into the next line', () => {
    const { log, lines } = capturedLog('warn');
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    const refusals = new RefusalLog(log, 10_000, clock);
    const error = new BacklogFullError([{ route: 'review', backlog: 200, limit: 200 }], 3);
    refusals.refused('github', error, { 'x-github-delivery': 'd-1' });
    for (let i = 0; i < 41; i++) refusals.refused('github', error);
    refusals.refused('slack', error);
    expect(lines).toHaveLength(2);
    clock.jumpTo(Date.parse('2026-05-01T10:00:10Z'));
    refusals.refused('github', error);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      source: 'github',
      reason: 'backlog-full',
      retryAfterSeconds: 3,
      routes: [{ route: 'review', backlog: 200, limit: 200 }],
      'x-github-delivery': 'd-1',
    });
    expect(lines[2]).toMatchObject({ source: 'github', refusedSinceLastLine: 41 });
    expect(lines[2]!.msg).toContain('and 41 more since the last line');
  });
});
