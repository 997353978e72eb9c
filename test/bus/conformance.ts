// The Bus contract as one suite: every implementation runs these same tests through its factory.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus, Delivery, SubscriptionOptions } from '../../src/bus/bus.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';

export interface BusHandle {
  bus: Bus;
  /** Closes this handle's bus and opens another on the same store (a restart). */
  reopen(): Promise<Bus>;
  destroy(): Promise<void>;
}

export interface BusFactory {
  name: string;
  fresh(): Promise<BusHandle>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function event(type: string, extra: Record<string, unknown> = {}): AgentdEvent {
  return toEvent({ type, source: 'test', ...extra }, { source: 'test', trust: 'operator' });
}

export function options(
  types: string[],
  over: Partial<SubscriptionOptions> = {},
): SubscriptionOptions {
  return {
    types,
    maxAttempts: 3,
    backoff: { initialMs: 10, maxMs: 50, factor: 2 },
    leaseMs: 5_000,
    ordering: 'key',
    ...over,
  };
}

export function busConformance(factory: BusFactory): void {
  describe(`Bus conformance: ${factory.name}`, () => {
    let handle: BusHandle;
    let bus: Bus;
    beforeEach(async () => {
      handle = await factory.fresh();
      bus = handle.bus;
    });
    afterEach(async () => {
      await handle.destroy();
    });

    async function pullOne(
      name: string,
      opts: SubscriptionOptions,
      waitMs = 2_000,
    ): Promise<Delivery> {
      const sub = await bus.subscribe(name, opts);
      const [d] = await sub.pull({ max: 1, waitMs });
      if (d === undefined) throw new Error(`nothing delivered to ${name} within ${waitMs} ms`);
      return d;
    }

    it('delivers a published event once per matching subscription, attempt 1', async () => {
      const a = await bus.subscribe('a', options(['demo.*']));
      const b = await bus.subscribe('b', options(['demo.hello']));
      const c = await bus.subscribe('c', options(['other.**']));
      await bus.publish([event('demo.hello', { data: { n: 1 } })]);
      const [da] = await a.pull({ max: 10, waitMs: 1_000 });
      const [db] = await b.pull({ max: 10, waitMs: 1_000 });
      expect(da?.event.data).toEqual({ n: 1 });
      expect(da?.attempt).toBe(1);
      expect(db?.event.type).toBe('demo.hello');
      expect(await c.pull({ max: 10, waitMs: 0 })).toHaveLength(0);
    });

    it('drops a duplicate (source, id) at publish', async () => {
      const sub = await bus.subscribe('s', options(['dup.x']));
      const first = await bus.publish([event('dup.x', { id: 'same' })]);
      const second = await bus.publish([event('dup.x', { id: 'same', data: 'changed' })]);
      const other = await bus.publish([event('dup.x', { id: 'same', source: 'elsewhere' })]);
      expect(first[0]?.duplicate).toBe(false);
      expect(second[0]?.duplicate).toBe(true);
      expect(other[0]?.duplicate).toBe(false);
      const got = await sub.pull({ max: 10, waitMs: 300 });
      expect(got.map((d) => d.event.source).sort()).toEqual(['elsewhere', 'test']);
    });

    it('keeps a resolved publish across a restart', async () => {
      await bus.subscribe('s', options(['keep.me']));
      await bus.publish([event('keep.me', { id: 'k1' })]);
      bus = await handle.reopen();
      const d = await pullOne('s', options(['keep.me']));
      expect(d.event.id).toBe('k1');
    });

    it('redelivers when a lease expires, recording the expiry', async () => {
      const opts = options(['lease.x'], { leaseMs: 200 });
      const sub = await bus.subscribe('s', opts);
      await bus.publish([event('lease.x')]);
      const [first] = await sub.pull({ max: 1, waitMs: 1_000 });
      expect(first?.attempt).toBe(1);
      const [second] = await sub.pull({ max: 1, waitMs: 3_000 });
      expect(second?.event.id).toBe(first?.event.id);
      expect(second?.attempt).toBe(2);
      expect(second?.errors[0]?.error).toMatch(/lease expired/);
      await expect(first!.ack()).rejects.toMatchObject({ code: 'LEASE_LOST' });
      await second!.ack();
    });

    it('extend keeps a lease alive past leaseMs', async () => {
      const opts = options(['ext.x'], { leaseMs: 300 });
      const sub = await bus.subscribe('s', opts);
      await bus.publish([event('ext.x')]);
      const [d] = await sub.pull({ max: 1, waitMs: 1_000 });
      for (let i = 0; i < 4; i++) {
        await sleep(150);
        await d!.extend();
      }
      expect(await sub.pull({ max: 1, waitMs: 0 })).toHaveLength(0);
      await d!.ack();
    });

    it('dead-letters after maxAttempts with every error recorded', async () => {
      const sub = await bus.subscribe('s', options(['fail.x'], { maxAttempts: 3 }));
      await bus.publish([event('fail.x', { id: 'f1' })]);
      const outcomes: string[] = [];
      for (let i = 1; i <= 3; i++) {
        const [d] = await sub.pull({ max: 1, waitMs: 2_000 });
        expect(d?.attempt).toBe(i);
        outcomes.push(await d!.nack({ error: `boom ${i}` }));
      }
      expect(outcomes).toEqual(['retry', 'retry', 'dead']);
      expect(await sub.pull({ max: 1, waitMs: 200 })).toHaveLength(0);
      const [dead] = await bus.dlq.list({ subscription: 's' });
      expect(dead?.event.id).toBe('f1');
      expect(dead?.attempts).toBe(3);
      expect(dead?.errors.map((e) => e.error)).toEqual(['boom 1', 'boom 2', 'boom 3']);
      expect(dead?.reason).toMatch(/boom 3/);
      expect((await bus.dlq.show(dead!.deliveryId))?.event.id).toBe('f1');
    });

    it('replays a dead letter from attempt 1, and purges', async () => {
      const sub = await bus.subscribe('s', options(['rp.x']));
      await bus.publish([event('rp.x', { id: 'r1' }), event('rp.x', { id: 'r2' })]);
      for (const d of await sub.pull({ max: 2, waitMs: 1_000 })) await d.deadLetter('bad input');
      const dead = await bus.dlq.list();
      expect(dead.map((d) => d.reason)).toEqual(['bad input', 'bad input']);
      const r1 = dead.find((d) => d.event.id === 'r1')!;
      const r2 = dead.find((d) => d.event.id === 'r2')!;
      expect(await bus.dlq.replay([r1.deliveryId])).toBe(1);
      const [again] = await sub.pull({ max: 1, waitMs: 1_000 });
      expect(again?.event.id).toBe('r1');
      expect(again?.attempt).toBe(1);
      await again!.ack();
      expect(await bus.dlq.purge([r2.deliveryId])).toBe(1);
      expect(await bus.dlq.list()).toHaveLength(0);
      expect(await bus.dlq.replay(['no-such-id'])).toBe(0);
    });

    it('does not deliver a delayed event early', async () => {
      const sub = await bus.subscribe('s', options(['later.x']));
      const start = Date.now();
      await bus.publish([event('later.x')], { delayMs: 600 });
      expect(await sub.pull({ max: 1, waitMs: 300 })).toHaveLength(0);
      const [d] = await sub.pull({ max: 1, waitMs: 3_000 });
      expect(d).toBeDefined();
      expect(Date.now() - start).toBeGreaterThanOrEqual(590);
    });

    it('honours nack delayMs before the next attempt', async () => {
      const sub = await bus.subscribe('s', options(['nd.x']));
      await bus.publish([event('nd.x')]);
      const [d] = await sub.pull({ max: 1, waitMs: 1_000 });
      const at = Date.now();
      await d!.nack({ delayMs: 500, error: 'later' });
      expect(await sub.pull({ max: 1, waitMs: 250 })).toHaveLength(0);
      const [again] = await sub.pull({ max: 1, waitMs: 3_000 });
      expect(again?.attempt).toBe(2);
      expect(Date.now() - at).toBeGreaterThanOrEqual(490);
    });

    it('release gives a delivery back without spending an attempt', async () => {
      const sub = await bus.subscribe('s', options(['rel.x']));
      await bus.publish([event('rel.x')]);
      const [d] = await sub.pull({ max: 1, waitMs: 1_000 });
      await d!.release();
      const [again] = await sub.pull({ max: 1, waitMs: 1_000 });
      expect(again?.attempt).toBe(1);
    });

    it('handles 10 keys x 100 events at concurrency 8 in per-key publish order', async () => {
      const sub = await bus.subscribe('s', options(['ord.x']));
      const events: AgentdEvent[] = [];
      for (let i = 0; i < 100; i++) {
        for (let k = 0; k < 10; k++)
          events.push(event('ord.x', { partitionkey: `k${k}`, data: i }));
      }
      await bus.publish(events.slice(0, 500));
      await bus.publish(events.slice(500));
      const seen = new Map<string, number[]>();
      const inFlight = new Set<string>();
      let overlap = 0;
      let handled = 0;
      const worker = async () => {
        while (handled < 1_000) {
          const [d] = await sub.pull({ max: 1, waitMs: 100 });
          if (d === undefined) continue;
          const key = d.event.partitionkey!;
          if (inFlight.has(key)) overlap++;
          inFlight.add(key);
          await sleep(Math.random() * 2);
          seen.set(key, [...(seen.get(key) ?? []), d.event.data as number]);
          inFlight.delete(key);
          handled++;
          await d.ack();
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      expect(overlap).toBe(0);
      for (let k = 0; k < 10; k++) {
        expect(seen.get(`k${k}`)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      }
    });

    it('holds a key while its head waits for a delayed retry', async () => {
      const sub = await bus.subscribe('s', options(['hold.x']));
      await bus.publish([
        event('hold.x', { partitionkey: 'pr-1', data: 1 }),
        event('hold.x', { partitionkey: 'pr-1', data: 2 }),
        event('hold.x', { partitionkey: 'pr-2', data: 3 }),
      ]);
      const first = await sub.pull({ max: 10, waitMs: 1_000 });
      expect(first.map((d) => d.event.data).sort()).toEqual([1, 3]);
      await first.find((d) => d.event.data === 1)!.nack({ delayMs: 300, error: 'wait' });
      await first.find((d) => d.event.data === 3)!.ack();
      expect(await sub.pull({ max: 10, waitMs: 150 })).toHaveLength(0);
      const [retry] = await sub.pull({ max: 10, waitMs: 2_000 });
      expect(retry?.event.data).toBe(1);
      await retry!.ack();
      const [next] = await sub.pull({ max: 10, waitMs: 1_000 });
      expect(next?.event.data).toBe(2);
    });

    it('frees a key when its head is dead-lettered', async () => {
      const sub = await bus.subscribe('s', options(['free.x']));
      await bus.publish([
        event('free.x', { partitionkey: 'k', data: 1 }),
        event('free.x', { partitionkey: 'k', data: 2 }),
      ]);
      const [head] = await sub.pull({ max: 10, waitMs: 1_000 });
      await head!.deadLetter('poison');
      const [next] = await sub.pull({ max: 10, waitMs: 1_000 });
      expect(next?.event.data).toBe(2);
    });

    it("lets an ordering 'none' subscription run one key's events together", async () => {
      const sub = await bus.subscribe('s', options(['par.x'], { ordering: 'none' }));
      await bus.publish([1, 2, 3].map((n) => event('par.x', { partitionkey: 'same', data: n })));
      expect(await sub.pull({ max: 10, waitMs: 1_000 })).toHaveLength(3);
    });

    it('does not let a slow subscription hold up another', async () => {
      const slow = await bus.subscribe('slow', options(['both.x']));
      const fast = await bus.subscribe('fast', options(['both.x']));
      await bus.publish(
        Array.from({ length: 20 }, (_, i) => event('both.x', { partitionkey: 'one', data: i })),
      );
      const [stuck] = await slow.pull({ max: 1, waitMs: 1_000 });
      expect(stuck).toBeDefined();
      const got: unknown[] = [];
      while (got.length < 20) {
        const batch = await fast.pull({ max: 5, waitMs: 1_000 });
        expect(batch.length).toBeGreaterThan(0);
        for (const d of batch) {
          got.push(d.event.data);
          await d.ack();
        }
      }
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('publishes ack-time events atomically with the ack', async () => {
      const first = await bus.subscribe('first', options(['chain.a']));
      const second = await bus.subscribe('second', options(['chain.b']));
      await bus.publish([event('chain.a')]);
      const [d] = await first.pull({ max: 1, waitMs: 1_000 });
      await d!.ack({ publish: [event('chain.b', { causationid: d!.event.id })] });
      const [next] = await second.pull({ max: 1, waitMs: 1_000 });
      expect(next?.event.causationid).toBe(d!.event.id);
    });

    it('announces dead letters as agentd.dlq.added when someone listens', async () => {
      const sub = await bus.subscribe('s', options(['ann.x']));
      const watcher = await bus.subscribe('w', options(['agentd.dlq.added']));
      await bus.publish([event('ann.x', { id: 'a1' })]);
      const [d] = await sub.pull({ max: 1, waitMs: 1_000 });
      await d!.deadLetter('nope');
      const [note] = await watcher.pull({ max: 1, waitMs: 1_000 });
      expect(note?.event.data).toMatchObject({ eventId: 'a1', subscription: 's', reason: 'nope' });
      expect(note?.event.causationid).toBe('a1');
      expect(bus.hasSubscribers('agentd.dlq.added')).toBe(true);
      expect(bus.hasSubscribers('nobody.listens')).toBe(false);
    });

    it('memoizes steps across attempts, first stored result wins', async () => {
      const sub = await bus.subscribe('s', options(['step.x'], { leaseMs: 200 }));
      await bus.publish([event('step.x')]);
      const [d1] = await sub.pull({ max: 1, waitMs: 1_000 });
      expect(await d1!.saveStep('plan', { nonce: 1 })).toEqual({ nonce: 1 });
      const [d2] = await sub.pull({ max: 1, waitMs: 3_000 });
      expect(d2?.attempt).toBe(2);
      expect((await d2!.loadSteps()).get('plan')).toEqual({ nonce: 1 });
      expect(await d2!.saveStep('plan', { nonce: 2 })).toEqual({ nonce: 1 });
      expect(await d2!.saveStep('empty', undefined)).toBeUndefined();
      expect([...(await d2!.loadSteps()).keys()].sort()).toEqual(['empty', 'plan']);
    });

    it('never delivers a settled delivery again, even after its lease would have run out', async () => {
      const sub = await bus.subscribe('s', options(['done.x'], { leaseMs: 200, maxAttempts: 1 }));
      await bus.publish([event('done.x', { id: 'acked' }), event('done.x', { id: 'dead' })]);
      await bus.publish([event('done.x', { id: 'failed' })]);
      const got = await sub.pull({ max: 3, waitMs: 1_000 });
      while (got.length < 3) got.push(...(await sub.pull({ max: 3, waitMs: 1_000 })));
      for (const d of got) {
        if (d.event.id === 'acked') await d.ack();
        if (d.event.id === 'dead') await d.deadLetter('poison');
        if (d.event.id === 'failed') expect(await d.nack({ error: 'last try' })).toBe('dead');
      }
      expect(await sub.pull({ max: 3, waitMs: 700 })).toHaveLength(0);
      expect((await bus.dlq.list()).map((d) => d.event.id).sort()).toEqual(['dead', 'failed']);
    });

    it('stops fanning out to subscriptions that are not retained', async () => {
      const gone = await bus.subscribe('gone', options(['ret.x']));
      await bus.subscribe('kept', options(['ret.x']));
      await bus.retainSubscriptions(['kept']);
      await bus.publish([event('ret.x')]);
      expect(await gone.pull({ max: 1, waitMs: 200 })).toHaveLength(0);
      expect(bus.hasSubscribers('ret.x')).toBe(true);
    });
  });
}
