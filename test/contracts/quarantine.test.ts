// Validation at ingest: invalid events go to the quarantine (never delivered, never dropped) with
// issues naming the field; a replay after the schema is fixed publishes them to their routes.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registryFor } from '../../src/contracts/config-contracts.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { defineEventType } from '../../src/core/event-type.js';
import { on } from '../../src/core/route.js';
import { startWithContracts, stopAllWithContracts, tempDb, waitFor } from './contracts-harness.js';

afterEach(stopAllWithContracts);

const event = (type: string, data: unknown, extra: Record<string, unknown> = {}) =>
  toEvent({ type, data, ...extra }, { source: 'test', trust: 'operator' });

// The producer sends amounts as strings; the first contract wrongly says number.
const strictPaid = defineEventType(
  'billing.invoice.paid',
  z.object({ invoice: z.string(), amount: z.number() }),
);
const fixedPaid = defineEventType(
  'billing.invoice.paid',
  z.object({ invoice: z.string(), amount: z.union([z.number(), z.string()]) }),
);

describe('validation at ingest', () => {
  it('quarantines an invalid event with issues naming the field, and never delivers it', async () => {
    const seen: AgentdEvent[] = [];
    const { bus } = await startWithContracts(tempDb(), {
      types: [strictPaid],
      routes: [on('billing.invoice.paid', { handler: (e) => void seen.push(e) })],
    });
    const good = event('billing.invoice.paid', { invoice: 'A-1', amount: 12.5 });
    const bad = event('billing.invoice.paid', { invoice: 'A-2', amount: '12.50' });
    const results = await bus.publish([good, bad]);
    expect(results.map((r) => [r.duplicate, r.quarantined])).toEqual([
      [false, undefined],
      [false, true],
    ]);
    await waitFor(() => seen.length === 1);
    expect(seen[0]?.data).toEqual({ invoice: 'A-1', amount: 12.5 });
    // The stored event names the version it was checked against.
    expect(seen[0]?.dataschema).toBe('agentd:billing.invoice.paid/v1');

    const [entry] = await bus.quarantine.list();
    expect(entry?.event.id).toBe(bad.id);
    expect(entry?.dataschema).toBe('agentd:billing.invoice.paid/v1');
    expect(entry?.issues).toEqual([
      expect.objectContaining({ path: 'amount', expected: 'number', got: 'the string "12.50"' }),
    ]);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(1);

    // A producer's retry of the refused event is a duplicate, not a second entry.
    expect((await bus.publish([bad]))[0]).toMatchObject({ duplicate: true });
    expect(await bus.quarantine.count()).toBe(1);
  });

  it('publishes a quarantined event on replay once its schema is fixed, and its route runs', async () => {
    const path = tempDb();
    const seen: AgentdEvent[] = [];
    const route = on('billing.invoice.paid', { handler: (e) => void seen.push(e) });
    const first = await startWithContracts(path, { types: [strictPaid], routes: [route] });
    const bad = event('billing.invoice.paid', { invoice: 'A-2', amount: '12.50' });
    await first.bus.publish([bad]);
    const [entry] = await first.bus.quarantine.list();
    // Replayed against the same broken contract: still refused, checked once more.
    const again = await first.bus.quarantine.replay([entry!.id]);
    expect(again.refused.map((r) => r.issues[0]?.path)).toEqual(['amount']);
    expect((await first.bus.quarantine.show(entry!.id))?.checks).toBe(2);
    await first.close();

    const second = await startWithContracts(path, { types: [fixedPaid], routes: [route] });
    const replay = await second.bus.quarantine.replay([entry!.id, '999']);
    expect(replay).toEqual({
      published: [entry!.id],
      duplicates: [],
      refused: [],
      missing: ['999'],
    });
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toMatchObject({ id: bad.id, data: { amount: '12.50' } });
    expect(await second.bus.quarantine.count()).toBe(0);
  });

  it('quarantines invalid events a handler emits, in the same transaction as its ack', async () => {
    const { bus } = await startWithContracts(tempDb(), {
      types: [strictPaid],
      routes: [
        on('invoice.settle', {
          handler: (_e, ctx) =>
            void ctx.emit({ type: 'billing.invoice.paid', data: { invoice: 'A-3' } }),
        }),
      ],
    });
    await bus.publish([event('invoice.settle', {})]);
    await waitFor(() => bus.db.prepare('SELECT count(*) AS n FROM quarantine').pluck().get() === 1);
    const [entry] = await bus.quarantine.list({ type: 'billing.invoice.paid' });
    expect(entry?.issues[0]).toMatchObject({ path: 'amount', got: 'nothing' });
    expect(entry?.event.causationid).toBeDefined();
  });

  it('lets types without a contract through, unless contracts.unknownTypes is quarantine', async () => {
    const loose = await startWithContracts(tempDb(), {});
    expect((await loose.bus.publish([event('anything.at.all', 'free text')]))[0]?.quarantined).toBe(
      undefined,
    );
    const strict = await startWithContracts(tempDb(), {
      contracts: { unknownTypes: 'quarantine' },
    });
    expect((await strict.bus.publish([event('anything.at.all', 'x')]))[0]?.quarantined).toBe(true);
    const [entry] = await strict.bus.quarantine.list();
    expect(entry?.issues[0]?.path).toBe('(type)');
  });

  it('refuses a dataschema that names a version its type does not have', async () => {
    const { bus } = await startWithContracts(tempDb(), { types: [strictPaid] });
    const result = await bus.publish([
      event(
        'billing.invoice.paid',
        { invoice: 'A', amount: 1 },
        { dataschema: 'agentd:billing.invoice.paid/v7' },
      ),
    ]);
    expect(result[0]?.quarantined).toBe(true);
    expect((await bus.quarantine.list())[0]?.issues[0]?.path).toBe('(dataschema)');
  });

  it('checks nothing with contracts.validate false', async () => {
    const { bus } = await startWithContracts(tempDb(), {
      types: [strictPaid],
      contracts: { validate: false },
    });
    const result = await bus.publish([event('billing.invoice.paid', { amount: 'x' })]);
    expect(result[0]?.quarantined).toBeUndefined();
  });

  it('refuses a config that declares one type twice', () => {
    expect(() => registryFor({ types: [strictPaid, fixedPaid] })).toThrow(
      'types[1]: billing.invoice.paid is declared twice',
    );
  });

  it('purges quarantined events', async () => {
    const { bus } = await startWithContracts(tempDb(), { types: [strictPaid] });
    await bus.publish([
      event('billing.invoice.paid', { amount: 'x' }),
      event('billing.invoice.paid', { amount: 'y' }),
    ]);
    const [newest] = await bus.quarantine.list();
    expect(await bus.quarantine.purge([newest!.id])).toBe(1);
    expect(await bus.quarantine.purge('all')).toBe(1);
    expect(await bus.quarantine.count()).toBe(0);
  });
});
