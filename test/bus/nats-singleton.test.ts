// Singleton and cancelOn on the NATS bus, across connections as across worker processes: 'skip'
// ends a newer event of a busy key at once as skipped; 'replace' and cancelOn end the key's older
// queued deliveries as cancelled and stop a running one wherever it runs (its onCancel listeners,
// extend and every settle see it), keeping nothing it recorded.
import { afterEach, describe, expect, it } from 'vitest';
import { eventMsgId, keyToken } from '../../src/bus/nats/names.js';
import type { NatsBus } from '../../src/bus/nats/nats-bus.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { RunCancelledError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import { event, options } from './conformance.js';
import { closeBuses, endedRuns, openBuses, pullUntil } from './nats/governed-buses.js';
import { startNatsAgentd, stopAllNatsAgentd, until } from './nats/nats-agentd.js';
import { natsAvailable } from './nats/nats-server.js';

const available = await natsAvailable();

const pr = (type: string, n: number, extra: Record<string, unknown> = {}) =>
  event(type, { data: { pr: n }, ...extra });

/** Stores events as a publish does, without what it decides for governed routes. */
async function publishUndecided(bus: NatsBus, events: readonly AgentdEvent[]): Promise<void> {
  for (const e of events)
    await bus.store.publisher.publish(
      bus.names.eventSubject(e, keyToken(e.partitionkey)),
      JSON.stringify(e),
      eventMsgId(e),
      undefined,
    );
}

describe.runIf(available)('NatsBus singleton', () => {
  afterEach(closeBuses);

  it("'skip' ends a newer event of a busy key at once as skipped, with its reason", async () => {
    const [bus] = await openBuses(1, 'SKIP');
    const sub = await bus!.subscribe('s', options(['s.x'], { key: 'data.pr', singleton: 'skip' }));
    const reason = 'singleton: key "1" already has an unfinished run';
    // Behind a queued one of its key, and behind a running one: decided at publish.
    await bus!.publish([pr('s.x', 1, { id: 'first' }), pr('s.x', 1, { id: 'queued' })]);
    expect(await endedRuns(sub)).toEqual([['queued', 'skipped', reason]]);
    const [first] = await pullUntil([sub], 1);
    expect(first?.event.id).toBe('first');
    await bus!.publish([pr('s.x', 1, { id: 'second' })]);
    expect((await endedRuns(sub)).map(([id]) => id)).toEqual(['queued', 'second']);
    // A publisher that stored an event but died before deciding: the worker receiving it decides.
    await publishUndecided(bus!, [pr('s.x', 1, { id: 'undecided' }), pr('s.x', 2, { id: 'free' })]);
    const [free] = await pullUntil([sub], 1);
    expect(free?.event.id).toBe('free');
    await until(async () => (await endedRuns(sub)).length === 3, 'the undecided one to be skipped');
    expect(await endedRuns(sub)).toEqual(
      ['queued', 'second', 'undecided'].map((id) => [id, 'skipped', reason]),
    );
    await first!.ack();
    await free!.ack();
    // The skipped ones pass through their key without running; then it is free.
    expect(await sub.pull({ max: 10, waitMs: 300 })).toHaveLength(0);
    await bus!.publish([pr('s.x', 1, { id: 'after' })]);
    expect((await pullUntil([sub], 1))[0]?.event.id).toBe('after');
  });

  it("'skip' counts runs, not skipped events still passing through their key", async () => {
    const [bus] = await openBuses(1, 'SKIPPASS');
    const sub = await bus!.subscribe('s', options(['p.x'], { key: 'data.pr', singleton: 'skip' }));
    await bus!.publish([pr('p.x', 1, { id: 'first' }), pr('p.x', 1, { id: 'skipped' })]);
    const [first] = await pullUntil([sub], 1);
    await first!.ack();
    // 'skipped' may not have passed through the key yet: the key is free all the same.
    await bus!.publish([pr('p.x', 1, { id: 'next' })]);
    expect((await pullUntil([sub], 1))[0]?.event.id).toBe('next');
    expect((await endedRuns(sub)).map(([id]) => id)).toEqual(['skipped']);
  });

  it("'replace' cancels the queued older delivery of the key; the newer one runs", async () => {
    const [bus] = await openBuses(1, 'REPQ');
    const sub = await bus!.subscribe(
      's',
      options(['q.x'], { key: 'data.pr', singleton: 'replace' }),
    );
    await bus!.publish([pr('q.x', 1, { id: 'old' })]);
    await bus!.publish([pr('q.x', 1, { id: 'new' })]);
    const got = await pullUntil([sub], 1);
    expect(got.map((d) => d.event.id)).toEqual(['new']);
    expect(await endedRuns(sub)).toEqual([
      ['old', 'cancelled', 'singleton: replaced by event new'],
    ]);
    expect(await bus!.dlq.list()).toHaveLength(0);
    await got[0]!.ack();
  });

  it("'replace' stops a run on another connection: told, extend and ack throw, nothing kept", async () => {
    const [a, b] = await openBuses(2, 'REPRUN');
    const opts = options(['l.x'], { key: 'data.pr', singleton: 'replace' });
    const subA = await a!.subscribe('s', opts);
    const subB = await b!.subscribe('s', opts);
    const watcher = await a!.subscribe('w', options(['never.stored']));
    const told: [string, string][] = [];
    subA.onCancel!((id, reason) => told.push([id, reason]));
    await a!.publish([pr('l.x', 1, { id: 'running' })]);
    const [running] = await pullUntil([subA], 1);
    await b!.publish([pr('l.x', 1, { id: 'newer' })]);
    await until(() => told.length === 1, 'the running holder to be told');
    expect(told).toEqual([[running!.deliveryId, 'singleton: replaced by event newer']]);
    await expect(running!.extend()).rejects.toBeInstanceOf(RunCancelledError);
    // The newer one waits behind the running one until that is settled.
    expect(await subB.pull({ max: 1, waitMs: 300 })).toHaveLength(0);
    await expect(running!.ack({ publish: [event('never.stored')] })).rejects.toThrow(
      'run cancelled: singleton: replaced by event newer',
    );
    const [newer] = await pullUntil([subB, subA], 1);
    expect(newer?.event.id).toBe('newer');
    expect(await endedRuns(subA)).toEqual([
      ['running', 'cancelled', 'singleton: replaced by event newer'],
    ]);
    expect(await watcher.pull({ max: 1, waitMs: 300 })).toHaveLength(0);
    await newer!.ack();
  });

  it('ends a lease asked to stop that expires as cancelled, never retried', async () => {
    const [bus] = await openBuses(1, 'REPEXP');
    const sub = await bus!.subscribe(
      's',
      options(['e.x'], { key: 'data.pr', singleton: 'replace', leaseMs: 1_000 }),
    );
    await bus!.publish([pr('e.x', 1, { id: 'abandoned' })]);
    const [abandoned] = await pullUntil([sub], 1);
    await bus!.publish([pr('e.x', 1, { id: 'newer' })]);
    // Its holder never settles: once the lease is gone the newer one runs, the old one not again.
    const [next] = await pullUntil([sub], 1);
    expect(next?.event.id).toBe('newer');
    expect(next?.attempt).toBe(1);
    expect((await endedRuns(sub)).map(([id, status]) => [id, status])).toEqual([
      ['abandoned', 'cancelled'],
    ]);
    await expect(abandoned!.ack()).rejects.toMatchObject({ code: 'LEASE_LOST' });
    await next!.ack();
  });
});

describe.runIf(available)('NatsBus cancelOn', () => {
  afterEach(closeBuses);
  const opts = options(['pr.opened'], {
    key: 'data.pr',
    cancelOn: [{ type: 'pr.closed', match: { data: { merged: false } } }],
  });

  it('cancels the queued delivery of the same key on a matching event, which gets none itself', async () => {
    const [bus] = await openBuses(1, 'CANQ');
    const sub = await bus!.subscribe('s', opts);
    expect(bus!.hasSubscribers('pr.closed')).toBe(true);
    expect(bus!.subscribersOf('pr.closed')).toEqual([]);
    await bus!.publish([pr('pr.opened', 1, { id: 'open-1' }), pr('pr.opened', 2)]);
    await bus!.publish([event('pr.closed', { data: { pr: 1, merged: true } })]);
    await bus!.publish([event('pr.closed', { id: 'close-2', data: { pr: 2, merged: false } })]);
    const got = await pullUntil([sub], 1);
    expect(got.map((d) => d.event.id)).toEqual(['open-1']);
    expect(await sub.pull({ max: 10, waitMs: 300 })).toHaveLength(0);
    expect((await endedRuns(sub)).map(([, status, reason]) => [status, reason])).toEqual([
      ['cancelled', 'cancelOn: pr.closed close-2'],
    ]);
    await got[0]!.ack();
  });

  it('ends a run parked on a wait at once, and what queued behind it; the key moves on', async () => {
    const [bus] = await openBuses(1, 'CANPARK');
    const sub = await bus!.subscribe('s', opts);
    await bus!.publish([pr('pr.opened', 4, { id: 'parked' })]);
    const [d] = await pullUntil([sub], 1);
    await d!.park!({ step: 'approval', type: 'pr.approved', match: { data: { pr: 4 } } });
    await bus!.publish([pr('pr.opened', 4, { id: 'behind' })]);
    expect(await sub.pull({ max: 1, waitMs: 300 })).toHaveLength(0);
    await bus!.publish([event('pr.closed', { id: 'close-4', data: { pr: 4, merged: false } })]);
    await bus!.publish([pr('pr.opened', 4, { id: 'reopened' })]);
    const [next] = await pullUntil([sub], 1);
    expect(next?.event.id).toBe('reopened');
    expect(await endedRuns(sub)).toEqual([
      ['parked', 'cancelled', 'cancelOn: pr.closed close-4'],
      ['behind', 'cancelled', 'cancelOn: pr.closed close-4'],
    ]);
    await next!.ack();
  });
});

describe.runIf(available)('a worker on NATS, cancelled from another daemon', () => {
  afterEach(stopAllNatsAgentd);

  it('aborts the run’s signal, ends it cancelled, announces it and keeps none of its emits', async () => {
    const aborted: unknown[] = [];
    const started: string[] = [];
    const seen: string[] = [];
    const cancelled: AgentdEvent[] = [];
    const config = {
      routes: [
        on<{ pr: number; hold?: true }>('review.requested', {
          name: 'review',
          key: 'data.pr',
          singleton: { mode: 'replace' },
          cancelOn: [{ type: 'pr.closed' }],
          handler: async (e, ctx) => {
            started.push(e.id);
            if (e.data?.hold !== true) return;
            ctx.emit({ type: 'review.posted', data: { id: e.id } });
            await new Promise((resolve) =>
              ctx.signal.addEventListener('abort', () => resolve(aborted.push(ctx.signal.reason))),
            );
          },
        }),
        on('review.posted', { name: 'posted', handler: (e) => void seen.push(e.id) }),
        on('agentd.run.cancelled', { name: 'watcher', handler: (e) => void cancelled.push(e) }),
      ],
    };
    const one = await startNatsAgentd(config);
    await one.publish('review.requested', { data: { pr: 7, hold: true } });
    await until(() => started.length === 1, 'the first review to start');
    // Another daemon (its own connection) publishes the cancelling event.
    const two = await startNatsAgentd(config, { stream: one.stream });
    const closed = await two.publish('pr.closed', { data: { pr: 7 } });
    await until(() => aborted.length === 1, 'the running review to be aborted');
    expect(aborted[0]).toMatchObject({ name: 'RunCancelledError', code: 'CANCELLED' });
    await until(() => cancelled.length === 1, 'agentd.run.cancelled');
    expect(cancelled[0]?.data).toMatchObject({
      route: 'review',
      reason: `cancelOn: pr.closed ${closed.id}`,
    });
    // A later event of the key runs; nothing the cancelled run emitted was published.
    const next = await two.publish('review.requested', { data: { pr: 7 } });
    await until(() => started.includes(next.id), 'the next review to start');
    expect(seen).toEqual([]);
  });
});
