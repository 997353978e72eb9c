// The outbox on NATS: actions are recorded with a run's ack and only then, once per idempotency
// key; any daemon dispatches, and each action is sent once however many dispatchers compete.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { subscriptionToken } from '../../src/bus/nats/names.js';
import { RunRecords } from '../../src/bus/nats/run-records.js';
import type { RecordedAction } from '../../src/bus/outbox-store.js';
import type { AgentdConfig } from '../../src/core/config.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { startRecordingServer, type RecordingServer } from '../fixtures/recording-server.js';
import { event, options } from './conformance.js';
import { startNatsAgentd, stopAllNatsAgentd, until } from './nats/nats-agentd.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

const available = await natsAvailable();

function action(
  key: string,
  cause: AgentdEvent,
  runId: string,
  extra: Partial<RecordedAction> = {},
) {
  return {
    key,
    sink: 'http',
    action: 'post',
    params: { target: 'hook', body: { key } },
    position: `key:${key}`,
    route: 'r',
    runId,
    mode: 'send',
    cause: {
      id: cause.id,
      source: cause.source,
      type: cause.type,
      correlationid: cause.correlationid,
      depth: cause.depth,
      trust: cause.trust,
    },
    ...extra,
  } satisfies RecordedAction;
}

const always = { pick: () => true };

describe.runIf(available)('the outbox on a NatsBus', () => {
  const stream = uniqueStream('OB');
  let bus: NatsBus;
  let other: NatsBus | undefined;

  beforeEach(async () => {
    bus = await NatsBus.connect({ servers: NATS_URL, stream, retentionMs: 60 * 60_000 });
  });
  afterEach(async () => {
    await bus.close();
    await other?.close();
    other = undefined;
    await dropNamespace(NATS_URL, stream);
  });

  it('records actions with the ack, once per idempotency key', async () => {
    const sub = await bus.subscribe('r', options(['ob.x']));
    await bus.publish([event('ob.x'), event('ob.x')]);
    const [first, second] = await sub.pull({ max: 2, waitMs: 2_000 });
    expect(await bus.outbox.list()).toEqual([]);
    await first!.ack({
      actions: [
        action('k1', first!.event, first!.deliveryId),
        action('k2', first!.event, first!.deliveryId),
      ],
    });
    // A second run recording a known key records nothing new.
    await second!.ack({ actions: [action('k1', second!.event, second!.deliveryId)] });
    const listed = await bus.outbox.list();
    expect(listed.map((a) => [a.key, a.state, a.runId]).sort()).toEqual([
      ['k1', 'pending', first!.deliveryId],
      ['k2', 'pending', first!.deliveryId],
    ]);
    expect(await bus.outbox.show(listed[0]!.id)).toMatchObject({ key: listed[0]!.key });
  });

  it('finishes an ack that a worker staged before it died, without running the handler again', async () => {
    const sub = await bus.subscribe('r', options(['ob.x'], { leaseMs: 600 }));
    const listener = await bus.subscribe('l', options(['ob.emitted']));
    await bus.publish([event('ob.x')]);
    const [lost] = await sub.pull({ max: 1, waitMs: 2_000 });
    const seq = Number(lost!.deliveryId.split('@')[0]);
    // What the ack records is staged; then the worker is gone before anything went out.
    await new RunRecords(bus.store, subscriptionToken('r')).stageAck(seq, {
      events: [event('ob.emitted', { id: 'emitted-1' })],
      actions: [action('k9', lost!.event, lost!.deliveryId)],
      at: Date.now(),
    });
    // The redelivery completes the ack instead of handing the run out again.
    expect(await sub.pull({ max: 1, waitMs: 2_500 })).toEqual([]);
    await until(async () => (await bus.outbox.list()).length === 1, 'the recorded action');
    const [emitted] = await listener.pull({ max: 1, waitMs: 2_000 });
    expect(emitted?.event.id).toBe('emitted-1');
    await expect(lost!.ack()).rejects.toThrow(/lease/i);
    expect(await sub.pull({ max: 1, waitMs: 1_000 })).toEqual([]);
  });

  it('takes back a claim that lapsed; only the new claim settles it', async () => {
    const sub = await bus.subscribe('r', options(['ob.x']));
    await bus.publish([event('ob.x')]);
    const [d] = await sub.pull({ max: 1, waitMs: 2_000 });
    await d!.ack({ actions: [action('k1', d!.event, d!.deliveryId)] });
    const now = Date.now();
    const [mine] = await bus.outbox.claim({ max: 5, now, leaseMs: 1_000, ...always });
    expect(mine?.attempt).toBe(1);
    other = await NatsBus.connect({ servers: NATS_URL, stream });
    // Another daemon sees it in flight until the claim lapses.
    expect(await other.outbox.claim({ max: 5, now: now + 500, leaseMs: 1_000, ...always })).toEqual(
      [],
    );
    const [theirs] = await other.outbox.claim({
      max: 5,
      now: now + 1_500,
      leaseMs: 1_000,
      ...always,
    });
    expect(theirs?.attempt).toBe(2);
    expect(theirs?.errors[0]?.error).toMatch(/the claim lapsed\); it may have been sent/);
    await bus.outbox.complete(mine!, { late: true }, []);
    await other.outbox.complete(theirs!, { ok: true }, []);
    // show() reads the entry itself (list() answers from this process's view, a moment behind).
    const done = await bus.outbox.show(mine!.id);
    expect(done).toMatchObject({ state: 'done', result: { ok: true }, attempt: 2 });
  });

  it('holds approval requests until approved, and never sends rejected ones', async () => {
    const sub = await bus.subscribe('r', options(['ob.x']));
    await bus.publish([event('ob.x')]);
    const [d] = await sub.pull({ max: 1, waitMs: 2_000 });
    const runId = d!.deliveryId;
    await d!.ack({
      actions: [
        action('ask1', d!.event, runId, { mode: 'approval', expiresAt: Date.now() + 60_000 }),
        action('ask2', d!.event, `${runId}-b`, {
          mode: 'approval',
          expiresAt: Date.now() + 60_000,
        }),
      ],
    });
    const now = Date.now();
    expect(await bus.outbox.claim({ max: 5, now, leaseMs: 1_000, ...always })).toEqual([]);
    const byKey = new Map((await bus.outbox.list()).map((a) => [a.key, a]));
    expect(byKey.get('ask1')?.state).toBe('pending-approval');
    const approved = await bus.outbox.approve([byKey.get('ask1')!.id], 'ops');
    const rejected = await bus.outbox.reject([byKey.get('ask2')!.id], 'ops', 'no', () => []);
    expect(approved.map((a) => a.decidedBy)).toEqual(['ops']);
    expect(rejected.map((a) => a.state)).toEqual(['rejected']);
    const claimed = await bus.outbox.claim({ max: 5, now: Date.now(), leaseMs: 1_000, ...always });
    expect(claimed.map((a) => a.key)).toEqual(['ask1']);
  });

  it("sends a run's actions in recorded order, one at a time", async () => {
    const sub = await bus.subscribe('r', options(['ob.x']));
    await bus.publish([event('ob.x')]);
    const [d] = await sub.pull({ max: 1, waitMs: 2_000 });
    const keys = ['a', 'b', 'c'];
    await d!.ack({ actions: keys.map((k) => action(k, d!.event, d!.deliveryId)) });
    const sent: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const claimed = await bus.outbox.claim({
        max: 5,
        now: Date.now(),
        leaseMs: 5_000,
        ...always,
      });
      expect(claimed).toHaveLength(1);
      sent.push(claimed[0]!.key);
      await bus.outbox.complete(claimed[0]!, null, []);
    }
    expect(sent).toEqual(keys);
  });
});

describe.runIf(available)('dispatching from several daemons on NATS', () => {
  let server: RecordingServer;
  /** Events whose first attempt failed (after recording its actions). */
  const failedOnce = new Set<string>();

  beforeEach(async () => {
    server = await startRecordingServer(() => ({ status: 200, body: { ok: true } }));
    failedOnce.clear();
  });
  afterEach(async () => {
    await stopAllNatsAgentd();
    await server.close();
  });

  function config(): AgentdConfig {
    return {
      outbox: {
        http: { targets: { hook: { url: `${server.url}/hook` } }, rateLimit: { perSecond: 1_000 } },
      },
      routes: [
        on<number>('job.posted', {
          name: 'poster',
          retries: { maxAttempts: 3, initialMs: 10, maxMs: 20 },
          handler: (event, ctx) => {
            for (let i = 0; i < 3; i++)
              ctx.outbox.http.post({ target: 'hook', body: { n: event.data, i } });
            // Every third event fails on its first attempt, after recording: nothing may be kept.
            if (event.data! % 3 === 0 && !failedOnce.has(event.id)) {
              failedOnce.add(event.id);
              throw new Error('first attempt fails');
            }
          },
        }),
        on('job.doomed', {
          name: 'doomed',
          retries: { maxAttempts: 2, initialMs: 10, maxMs: 20 },
          handler: (_event, ctx) => {
            ctx.outbox.http.post({ target: 'hook', body: { doomed: true } });
            throw new Error('always fails');
          },
        }),
      ],
    };
  }

  it('sends every action exactly once; runs that failed recorded none', async () => {
    const a = await startNatsAgentd(config());
    const b = await startNatsAgentd(config(), { stream: a.stream });
    await a.publish('job.doomed');
    for (let n = 0; n < 20; n++) await (n % 2 === 0 ? a : b).publish('job.posted', { data: n });
    await until(async () => {
      const actions = await a.actions();
      return actions.length === 60 && actions.every((x) => x.state === 'done');
    }, 'all 60 actions done');
    await until(async () => (await a.bus.dlq.list()).length === 1, 'the doomed run dead');
    const ids = server.requests.map((r) => String(r.headers['webhook-id']));
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    expect(server.requests.some((r) => r.text.includes('doomed'))).toBe(false);
    expect(failedOnce.size).toBe(7);
    expect((await b.actions()).filter((x) => x.attempt !== 1)).toEqual([]);
  });
});
