// SqliteBus specifics beyond the Bus contract: retention, lease recovery at start, durability modes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { LeaseLostError } from '../../src/core/errors.js';
import { event, options } from './conformance.js';

const dirs: string[] = [];
const buses: SqliteBus[] = [];

function open(
  extra: { retentionMs?: number; durability?: 'process' | 'power' } = {},
  dir?: string,
): SqliteBus {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'agentd-store-'));
  if (dir === undefined) dirs.push(d);
  const bus = new SqliteBus({ path: join(d, 'agentd.db'), ...extra });
  buses.push(bus);
  return bus;
}

afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('SqliteBus store', () => {
  it('deletes finished history past retention and keeps dead and unfinished events', async () => {
    const bus = open({ retentionMs: 100 });
    const sub = await bus.subscribe('s', options(['r.x']));
    await bus.publish([
      event('r.x', { id: 'done' }),
      event('r.x', { id: 'dead' }),
      event('r.x', { id: 'open' }),
    ]);
    await bus.publish([event('nobody.listens', { id: 'orphan' })]);
    const got = await sub.pull({ max: 3, waitMs: 1_000 });
    await got.find((d) => d.event.id === 'done')!.ack();
    await got.find((d) => d.event.id === 'dead')!.deadLetter('kept for review');
    await got.find((d) => d.event.id === 'open')!.release();
    await new Promise((r) => setTimeout(r, 150));
    expect(bus.sweepRetention()).toBe(2);
    const left = new SqliteInspector(bus.db)
      .events({ limit: 10 })
      .map((e) => e.event.id)
      .sort();
    expect(left).toEqual(['dead', 'open']);
    // Dedup lasts as long as the event is kept: a deleted event's id is accepted again.
    expect((await bus.publish([event('r.x', { id: 'done' })]))[0]?.duplicate).toBe(false);
    expect((await bus.publish([event('r.x', { id: 'dead' })]))[0]?.duplicate).toBe(true);
  });

  it('keeps everything when retention is 0', async () => {
    const bus = open({ retentionMs: 0 });
    await bus.publish([event('k.x')]);
    expect(bus.sweepRetention()).toBe(0);
    expect(new SqliteInspector(bus.db).totalEvents()).toBe(1);
  });

  it('takes back leases of a crashed predecessor at once, counting the attempt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-store-'));
    dirs.push(dir);
    const first = open({}, dir);
    const sub = await first.subscribe('s', options(['c.x'], { leaseMs: 60_000 }));
    await first.publish([event('c.x', { id: 'in-flight' })]);
    expect(await sub.pull({ max: 1, waitMs: 1_000 })).toHaveLength(1);
    await first.close();

    const second = open({}, dir);
    const again = await second.subscribe('s', options(['c.x'], { leaseMs: 60_000 }));
    expect(await second.recoverLeases()).toBe(1);
    const [d] = await again.pull({ max: 1, waitMs: 1_000 });
    expect(d?.event.id).toBe('in-flight');
    expect(d?.attempt).toBe(2);
    expect(d?.errors[0]?.error).toMatch(/recovered at start/);
  });

  it('sets synchronous=FULL for power durability and NORMAL for process durability', () => {
    expect(open({ durability: 'power' }).db.pragma('synchronous', { simple: true })).toBe(2);
    expect(open().db.pragma('synchronous', { simple: true })).toBe(1);
    expect(open().db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('wakes a waiting consumer when another connection commits, as another process would', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-store-'));
    dirs.push(dir);
    const consumer = open({}, dir);
    const sub = await consumer.subscribe('s', options(['x.p']));
    const other = open({}, dir);
    const pulled = sub.pull({ max: 1, waitMs: 5_000 });
    const start = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await other.publish([event('x.p')]);
    expect(await pulled).toHaveLength(1);
    expect(Date.now() - start).toBeLessThan(1_000);
  });

  it('finishes acks made in one tick together, and one whose lease moved on fails alone', async () => {
    const bus = open();
    const sub = await bus.subscribe('s', options(['t.x'], { ordering: 'none' }));
    await bus.publish([event('t.x'), event('t.x'), event('t.x')]);
    const [a, b, c] = await sub.pull({ max: 3, waitMs: 1_000 });
    await b!.release();
    const settled = await Promise.allSettled([a!.ack(), b!.ack(), c!.ack()]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(LeaseLostError);
    const states = bus.db
      .prepare<[], { state: string }>(`SELECT state FROM deliveries ORDER BY id`)
      .all()
      .map((row) => row.state);
    expect(states).toEqual(['acked', 'ready', 'acked']);
  });
});
