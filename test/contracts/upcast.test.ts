// Upcasting on delivery: events stored at an older version reach a route that accepts a newer one
// upcast through the type's chain, with `event.data` typed by the version the route accepts.
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { DEFAULT_SUBSCRIPTION } from '../../src/bus/bus.js';
import type { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { defineEventType } from '../../src/core/event-type.js';
import { on } from '../../src/core/route.js';
import { startWithContracts, stopAllWithContracts, tempDb, waitFor } from './contracts-harness.js';

afterEach(stopAllWithContracts);

const publish = (bus: SqliteBus, data: unknown, extra: Record<string, unknown> = {}) =>
  bus.publish([
    toEvent({ type: 'order.placed', data, ...extra }, { source: 't', trust: 'operator' }),
  ]);

const v1 = defineEventType('order.placed', z.object({ amount: z.number() }));
const v2 = v1.next(z.object({ amountCents: z.int(), currency: z.string() }), (d) => ({
  amountCents: Math.round(d.amount * 100),
  currency: 'EUR',
}));
const v3 = v2.next(
  z.object({ total: z.object({ cents: z.int(), currency: z.string() }) }),
  (d) => ({ total: { cents: d.amountCents, currency: d.currency } }),
);

describe('upcasting', () => {
  it('delivers a stored v1 event to a v2 handler upcast, typed as v2', async () => {
    const path = tempDb();
    // Yesterday's agentd knew only v1, and stored a v1 event its route had not handled yet.
    const before = await startWithContracts(path, { types: [v1] });
    await before.bus.subscribe('billing', { ...DEFAULT_SUBSCRIPTION, types: ['order.placed'] });
    await publish(before.bus, { amount: 12.5 });
    await before.close();

    const seen: AgentdEvent[] = [];
    const { bus } = await startWithContracts(path, {
      types: [v2],
      routes: [
        on(v2.v2, {
          name: 'billing',
          handler: (event) => {
            expectTypeOf(event.data).toEqualTypeOf<{ amountCents: number; currency: string }>();
            seen.push(event);
          },
        }),
      ],
    });
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toMatchObject({
      dataschema: 'agentd:order.placed/v2',
      data: { amountCents: 1250, currency: 'EUR' },
    });
    // The stored event is untouched: upcasting happens on the way to the handler.
    const stored = bus.db.prepare('SELECT envelope FROM events').pluck().all() as string[];
    expect(JSON.parse(stored[0]!)).toMatchObject({ data: { amount: 12.5 } });
  });

  it('upcasts through the whole chain, v1 to v3, and leaves current events as they are', async () => {
    const seen: unknown[] = [];
    const { bus } = await startWithContracts(tempDb(), {
      types: [v3],
      routes: [on(v3.v3, { handler: (e) => void seen.push(e.data) })],
    });
    await publish(bus, { amount: 2 }, { dataschema: 'agentd:order.placed/v1' });
    await publish(bus, { total: { cents: 7, currency: 'USD' } });
    await waitFor(() => seen.length === 2);
    expect(seen).toEqual([
      { total: { cents: 200, currency: 'EUR' } },
      { total: { cents: 7, currency: 'USD' } },
    ]);
  });

  it("takes a bare version ('v2') as each event's own type at that version", async () => {
    const seen: unknown[] = [];
    const { bus } = await startWithContracts(tempDb(), {
      types: [v2],
      routes: [on('order.*', { accepts: 'v2', handler: (e) => void seen.push(e.data) })],
    });
    await publish(bus, { amount: 1 }, { dataschema: 'agentd:order.placed/v1' });
    await bus.publish([
      toEvent({ type: 'order.note', data: 'no contract' }, { source: 't', trust: 'operator' }),
    ]);
    await waitFor(() => seen.length === 2);
    expect(seen).toContainEqual({ amountCents: 100, currency: 'EUR' });
    expect(seen).toContainEqual('no contract');
  });

  it('takes an event stored before its type had a contract as v1, and checks it', async () => {
    const path = tempDb();
    const before = await startWithContracts(path, {});
    await before.bus.subscribe('r', { ...DEFAULT_SUBSCRIPTION, types: ['order.placed'] });
    await publish(before.bus, { amount: 3 });
    await publish(before.bus, { note: 'not an order' });
    await before.close();

    const seen: unknown[] = [];
    const { bus } = await startWithContracts(path, {
      types: [v2],
      routes: [on(v2.v2, { name: 'r', handler: (e) => void seen.push(e.data) })],
    });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual([{ amountCents: 300, currency: 'EUR' }]);
    await waitFor(
      () =>
        bus.db.prepare(`SELECT count(*) FROM deliveries WHERE state = 'dead'`).pluck().get() === 1,
    );
    const [dead] = await bus.dlq.list();
    expect(dead?.reason).toMatch(/amount/);
  });

  it('dead-letters an event newer than the version the route accepts', async () => {
    const { bus } = await startWithContracts(tempDb(), {
      types: [v2],
      routes: [on(v2.v1, { name: 'old', handler: () => undefined })],
    });
    await publish(bus, { amountCents: 1, currency: 'EUR' });
    await waitFor(
      () =>
        bus.db.prepare(`SELECT count(*) FROM deliveries WHERE state = 'dead'`).pluck().get() === 1,
    );
    expect((await bus.dlq.list())[0]?.reason).toMatch(/never downcast/);
  });

  it('fails the start of a route that accepts a version no type has', async () => {
    await expect(
      startWithContracts(tempDb(), {
        routes: [on('order.placed', { accepts: 'agentd:order.placed/v2', handler: () => 1 })],
      }),
    ).rejects.toThrow(/accepts "agentd:order.placed\/v2"/);
  });
});
