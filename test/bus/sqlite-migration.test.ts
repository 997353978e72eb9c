// A store written by schema 1 (before route keys and the governor) opens, migrates and keeps its
// queued and dead deliveries; the new options then work on it. A schema 2 store gets the admin
// filters' indexes built over its rows.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AdminQueries } from '../../src/bus/sqlite/admin-sql.js';
import { toEvent } from '../../src/core/envelope.js';
import { options } from './conformance.js';
import { store, T0 } from './sqlite-harness.js';

// The schema 1 tables the migration changes, as agentd 0.1 created them.
const SCHEMA_1 = `
CREATE TABLE events (seq INTEGER PRIMARY KEY, source TEXT NOT NULL, id TEXT NOT NULL,
  type TEXT NOT NULL, partitionkey TEXT, correlationid TEXT NOT NULL, stored_at INTEGER NOT NULL,
  envelope TEXT NOT NULL);
CREATE UNIQUE INDEX events_source_id ON events(source, id);
CREATE TABLE subscriptions (name TEXT PRIMARY KEY, types TEXT NOT NULL, ordering TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1, updated_at INTEGER NOT NULL);
CREATE TABLE deliveries (id INTEGER PRIMARY KEY, sub TEXT NOT NULL, seq INTEGER NOT NULL,
  pkey TEXT, state TEXT NOT NULL, available_at INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
  lease_until INTEGER, errors TEXT, reason TEXT, created_at INTEGER NOT NULL, started_at INTEGER,
  finished_at INTEGER);
CREATE INDEX deliveries_ready ON deliveries(sub, available_at, id) WHERE state = 'ready';
CREATE INDEX deliveries_waiting ON deliveries(sub, pkey, id) WHERE state = 'waiting';
CREATE INDEX deliveries_finished ON deliveries(finished_at)
  WHERE state IN ('acked', 'skipped', 'replayed');
CREATE TABLE key_heads (sub TEXT NOT NULL, pkey TEXT NOT NULL, head INTEGER NOT NULL,
  PRIMARY KEY (sub, pkey)) WITHOUT ROWID;
PRAGMA user_version = 1;
`;

function writeSchema1Store(path: string): void {
  const db = new Database(path);
  db.exec(SCHEMA_1);
  const insertEvent = db.prepare(
    `INSERT INTO events (seq, source, id, type, partitionkey, correlationid, stored_at, envelope)
     VALUES (?, 'test', ?, 'm.x', 'k', ?, ?, ?)`,
  );
  for (const [seq, id] of [
    [1, 'queued'],
    [2, 'dead'],
  ] as const) {
    const event = toEvent(
      { type: 'm.x', id, source: 'test', partitionkey: 'k' },
      { source: 'test', trust: 'operator' },
    );
    insertEvent.run(seq, id, event.correlationid, T0, JSON.stringify(event));
  }
  db.exec(`
    INSERT INTO subscriptions VALUES ('s', '["m.x"]', 'key', 1, ${T0});
    INSERT INTO deliveries (id, sub, seq, pkey, state, available_at, created_at)
      VALUES (1, 's', 1, 'k', 'ready', ${T0}, ${T0});
    INSERT INTO deliveries (id, sub, seq, pkey, state, available_at, attempt, reason, created_at, finished_at)
      VALUES (2, 's', 2, 'k2', 'dead', ${T0}, 3, 'poison', ${T0}, ${T0});
    INSERT INTO key_heads VALUES ('s', 'k', 1);
  `);
  db.close();
}

describe('SqliteBus schema migration', () => {
  it('opens a schema 1 store, adds the new columns and keeps its deliveries', async () => {
    const shared = store();
    writeSchema1Store(shared.path);
    const bus = shared.open();
    expect(bus.db.pragma('user_version', { simple: true })).toBe(3);
    const columns = bus.db
      .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('deliveries')`)
      .all()
      .map((c) => c.name);
    expect(columns).toEqual(expect.arrayContaining(['rkey', 'vt', 'batch']));
    const tables = bus.db
      .prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
      .all()
      .map((t) => t.name);
    expect(tables).toEqual(
      expect.arrayContaining(['fair_keys', 'open_batches', 'debounce_bursts']),
    );

    const sub = await bus.subscribe('s', options(['m.x'], { ordering: 'key', fairness: {} }));
    const [queued] = await sub.pull({ max: 10, waitMs: 0 });
    expect(queued).toMatchObject({ event: { id: 'queued' }, key: 'k', attempt: 1 });
    await queued!.ack();
    const [dead] = await bus.dlq.list();
    expect(dead).toMatchObject({ event: { id: 'dead' }, reason: 'poison', attempts: 3 });
    expect(await bus.dlq.replay([dead!.deliveryId])).toBe(1);
    expect((await sub.pull({ max: 10, waitMs: 0 }))[0]?.event.id).toBe('dead');
  });

  it('opens a migrated store again without changing it', async () => {
    const shared = store();
    writeSchema1Store(shared.path);
    await shared.open().close();
    const again = shared.open();
    expect(again.db.pragma('user_version', { simple: true })).toBe(3);
    expect(await again.dlq.list()).toHaveLength(1);
  });
});

describe('schema 2 -> 3 (indexes for the admin filters)', () => {
  const SCHEMA_3_INDEXES = ['events_pkey', 'deliveries_sub', 'deliveries_ended'];

  it('builds the new indexes over a schema 2 store with rows, and its filters find them', async () => {
    const shared = store();
    const before = shared.open();
    await before.subscribe('s', options(['m.*'], { ordering: 'none' }));
    await before.publish(
      Array.from({ length: 300 }, (_, n) =>
        toEvent(
          { type: n % 3 === 0 ? 'm.rare' : 'm.x', id: `e-${n}`, partitionkey: `k-${n % 7}` },
          { source: 'test', trust: 'operator' },
        ),
      ),
    );
    before.db.exec(`UPDATE deliveries SET state = 'cancelled' WHERE seq % 10 = 0`);
    await before.close();
    // What agentd with schema 2 left: the same tables and rows, without schema 3's indexes.
    const raw = new Database(shared.path);
    for (const index of SCHEMA_3_INDEXES) raw.exec(`DROP INDEX ${index}`);
    raw.pragma('user_version = 2');
    raw.close();

    const bus = shared.open();
    expect(bus.db.pragma('user_version', { simple: true })).toBe(3);
    const indexes = bus.db
      .prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index'`)
      .all()
      .map((i) => i.name);
    expect(indexes).toEqual(expect.arrayContaining(SCHEMA_3_INDEXES));
    const queries = new AdminQueries(bus.db);
    const keyed = queries.events({ key: 'k-3', limit: 500 }).items;
    expect(keyed).toHaveLength(43);
    expect(keyed.every((e) => e.event.partitionkey === 'k-3')).toBe(true);
    expect(queries.events({ status: 'cancelled', limit: 500 }).items).toHaveLength(30);
    expect(queries.runs({ route: 's', limit: 500 }).items).toHaveLength(300);
    const plan = bus.db
      .prepare(`EXPLAIN QUERY PLAN SELECT seq FROM events WHERE partitionkey = ? ORDER BY seq DESC`)
      .all('k-3') as { detail: string }[];
    expect(plan.map((p) => p.detail).join()).toMatch(/events_pkey/);
  });
});
