// The admin filters over a store of 12,000 events: paging through any filter or combination with
// cursors gives every matching event (or run) once, newest first, as a brute-force reading of the
// whole store says; and the statements they run read indexes, never a scan of events or
// deliveries (EXPLAIN QUERY PLAN of each statement actually run, from the connection's trace).
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventSearch, type EventFilter } from '../../src/bus/sqlite/event-search-sql.js';
import { runStatus, type RunStatus } from '../../src/bus/sqlite/inspect-sql.js';
import { RunSearch, type RunFilter } from '../../src/bus/sqlite/run-search-sql.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { compilePattern } from '../../src/core/type-pattern.js';
import { RUN_STATUSES } from '../../src/server/admin-types.js';
import { options } from './conformance.js';

const EVENTS = 12_000;
const BATCH = 100;
const T0 = Date.parse('2030-01-01T00:00:00Z');
const at = (batch: number) => T0 + batch * 1_000;

let dir: string;
let path: string;
let db: Database.Database;

interface Row {
  seq: number;
  id: string;
  type: string;
  partitionkey: string | null;
  stored_at: number;
}
interface Run {
  id: number;
  seq: number;
  sub: string;
  status: RunStatus;
}
let events: Row[];
let runs: Run[];
/** The run statuses of each event. */
const statusesOf = new Map<number, Set<RunStatus>>();

function eventAt(n: number): AgentdEvent {
  const type =
    n % 97 === 0
      ? 'slack.message'
      : n % 53 === 0
        ? `many.t${n % 40}`
        : n % 3 === 0
          ? 'cron.tick'
          : n % 3 === 1
            ? 'github.push'
            : 'github.pull_request.opened';
  const key = type === 'cron.tick' ? {} : { partitionkey: `repo-${n % 50}` };
  return toEvent(
    { type, id: `ev-${n}`, ...key },
    { source: n % 2 === 0 ? 'a' : 'b', trust: 'internal' },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-search-'));
  path = join(dir, 'agentd.db');
  let now = T0;
  const clock: Clock = {
    now: () => now,
    setTimer: (callback, ms) => systemClock.setTimer(callback, ms),
  };
  const bus = new SqliteBus({ path, clock, retentionMs: 0 });
  await bus.subscribe('all', options(['**'], { ordering: 'none' }));
  await bus.subscribe('gh', options(['github.**'], { ordering: 'none' }));
  for (let batch = 0; batch * BATCH < EVENTS; batch++) {
    now = at(batch);
    await bus.publish(Array.from({ length: BATCH }, (_, i) => eventAt(batch * BATCH + i)));
  }
  // The same id from another source: an id search finds both.
  await bus.publish([
    toEvent({ type: 'cron.tick', id: 'ev-123' }, { source: 'c', trust: 'internal' }),
  ]);
  // Every run status, set as a worker would leave it; most of route all stays queued (a backlog
  // past the probe limit), the oldest 1,500 events' runs completed.
  bus.db.exec(`
    UPDATE deliveries SET state = 'acked', attempt = 1, finished_at = created_at WHERE seq <= 1500;
    UPDATE deliveries SET state = 'dead', attempt = 3 WHERE sub = 'all' AND seq % 50 = 1;
    UPDATE deliveries SET state = 'cancelled' WHERE sub = 'all' AND seq % 300 = 3;
    UPDATE deliveries SET state = 'ready', attempt = 2 WHERE sub = 'all' AND seq % 400 = 5;
    UPDATE deliveries SET state = 'skipped' WHERE sub = 'all' AND seq % 700 = 9;
    UPDATE deliveries SET state = 'replayed' WHERE sub = 'all' AND seq % 900 = 11;
    UPDATE deliveries SET state = 'leased', lease_until = 1 WHERE sub = 'all' AND seq % 500 = 13;
    UPDATE deliveries SET state = 'waiting' WHERE sub = 'gh' AND seq % 650 = 19;
    UPDATE deliveries SET state = 'batched', batch = id WHERE sub = 'gh' AND seq % 800 = 21;
    UPDATE deliveries SET state = 'parked' WHERE sub = 'gh' AND seq % 600 = 17;
    INSERT INTO waits (delivery, sub, seq, step, type, created_at)
      SELECT id, sub, seq, 'wait', 'x.done', 0 FROM deliveries WHERE state = 'parked';
  `);
  await bus.close();
  db = new Database(path);
  events = db.prepare<[], Row>(`SELECT seq, id, type, partitionkey, stored_at FROM events`).all();
  runs = db
    .prepare<[], { id: number; seq: number; sub: string; state: string; attempt: number }>(
      `SELECT id, seq, sub, state, attempt FROM deliveries`,
    )
    .all()
    .map((d) => ({ ...d, status: runStatus(d.state, d.attempt) }));
  for (const run of runs)
    statusesOf.set(run.seq, (statusesOf.get(run.seq) ?? new Set()).add(run.status));
}, 60_000);

afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const since = at(80);
const until = at(100);

const EVENT_FILTERS: Omit<EventFilter, 'limit'>[] = [
  {},
  { type: 'github.push' },
  { type: 'slack.message' },
  { type: 'github.**' },
  { type: 'github.*' },
  { type: '*.tick' },
  { type: 'many.*' },
  { type: 'nothing.*' },
  { key: 'repo-7' },
  { key: 'no-such-key' },
  { q: 'ev-123' },
  { q: 'slack.message' },
  { q: 'repo-3' },
  ...RUN_STATUSES.map((status) => ({ status })),
  { since },
  { until },
  { since, until },
  { since: at(1_000) },
  { type: 'github.push', key: 'repo-4' },
  { type: 'github.**', status: 'dead' },
  { type: 'cron.tick', status: 'completed' },
  { key: 'repo-1', status: 'cancelled', since: at(5) },
  { q: 'repo-2', type: 'github.push', until },
  { q: 'ev-5000', status: 'queued' },
  { status: 'queued', since, until },
];

/** What the filter means, read off every row of the store. */
function expectedEvents(filter: Omit<EventFilter, 'limit'>): number[] {
  const match = filter.type === undefined ? undefined : compilePattern(filter.type);
  return events
    .filter(
      (e) =>
        (match === undefined || match(e.type)) &&
        (filter.key === undefined || e.partitionkey === filter.key) &&
        (filter.since === undefined || e.stored_at >= filter.since) &&
        (filter.until === undefined || e.stored_at <= filter.until) &&
        (filter.status === undefined || statusesOf.get(e.seq)?.has(filter.status) === true) &&
        (filter.q === undefined || [e.id, e.type, e.partitionkey].includes(filter.q)),
    )
    .map((e) => e.seq)
    .sort((a, b) => b - a);
}

/** Every page from the newest on, following nextCursor as the API does. */
function pageThrough<T>(
  page: (cursor: number | undefined) => { rows: T[]; more: boolean },
  cursorOf: (row: T) => number,
): T[] {
  const all: T[] = [];
  let cursor: number | undefined;
  for (;;) {
    const { rows, more } = page(cursor);
    all.push(...rows);
    const last = rows.at(-1);
    if (!more || last === undefined) return all;
    cursor = cursorOf(last);
  }
}

describe('event filters', () => {
  it.each(EVENT_FILTERS.map((f) => [JSON.stringify(f), f] as const))(
    'page through %s: every matching event once, newest first',
    (_name, filter) => {
      const search = new EventSearch(db);
      const seen = pageThrough(
        (cursor) =>
          search.page({ ...filter, limit: 250, ...(cursor === undefined ? {} : { cursor }) }),
        (row) => row.seq,
      ).map((row) => row.seq);
      expect(seen).toEqual(expectedEvents(filter));
    },
  );

  it('finds a rare type, a key and an id among the 12,000', () => {
    expect(expectedEvents({ type: 'slack.message' }).length).toBeGreaterThan(100);
    expect(expectedEvents({ q: 'ev-123' })).toHaveLength(2);
    expect(expectedEvents({ status: 'queued' }).length).toBeGreaterThan(10_000);
  });
});

const RUN_FILTERS: Omit<RunFilter, 'limit'>[] = [
  {},
  { route: 'gh' },
  { route: 'nobody' },
  ...RUN_STATUSES.map((status) => ({ status })),
  { route: 'all', status: 'dead' },
  { route: 'gh', status: 'queued' },
  { route: 'gh', status: 'completed' },
  { eventId: 'ev-123' },
  { eventId: 'ev-9', route: 'gh' },
  { eventId: 'missing' },
];

describe('run filters', () => {
  it.each(RUN_FILTERS.map((f) => [JSON.stringify(f), f] as const))(
    'page through %s: every matching run once, newest first',
    (_name, filter) => {
      const search = new RunSearch(db);
      const seqs = new Set(events.filter((e) => e.id === filter.eventId).map((e) => e.seq));
      const expected = runs
        .filter(
          (r) =>
            (filter.route === undefined || r.sub === filter.route) &&
            (filter.status === undefined || r.status === filter.status) &&
            (filter.eventId === undefined || seqs.has(r.seq)),
        )
        .map((r) => r.id)
        .sort((a, b) => b - a);
      const seen = pageThrough(
        (cursor) =>
          search.page({ ...filter, limit: 400, ...(cursor === undefined ? {} : { cursor }) }),
        (row) => row.id,
      ).map((row) => row.id);
      expect(seen).toEqual(expected);
    },
  );
});

/** The plan of every statement a search runs, read from a traced connection. */
function plansOf(run: (traced: Database.Database) => void): string[] {
  const executed: string[] = [];
  const traced = new Database(path, {
    readonly: true,
    verbose: (sql) => executed.push(String(sql)),
  });
  try {
    run(traced);
    return executed.map((sql) =>
      (traced.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
        .map((row) => row.detail)
        .join('; '),
    );
  } finally {
    traced.close();
  }
}

// A full pass over events or deliveries; a scan of a partial index (the rows in one rare state)
// or of the waits table (the parked runs) is what such a filter matches, and is fine.
const FULL_SCAN = /\bSCAN (e|events|d|deliveries)\b(?! USING (COVERING )?INDEX)/;

describe('query plans', () => {
  it.each(EVENT_FILTERS.map((f) => [JSON.stringify(f), f] as const))(
    'events %s read indexes, on the first page and a deep one',
    (_name, filter) => {
      const plans = plansOf((traced) => {
        const search = new EventSearch(traced);
        search.page({ ...filter, limit: 50 });
        search.page({ ...filter, limit: 50, cursor: 2_000 });
      });
      expect(plans.length).toBeGreaterThan(0);
      for (const plan of plans) expect(plan).not.toMatch(FULL_SCAN);
    },
  );

  it.each(RUN_FILTERS.map((f) => [JSON.stringify(f), f] as const))(
    'runs %s read indexes',
    (_name, filter) => {
      const plans = plansOf((traced) => {
        new RunSearch(traced).page({ ...filter, limit: 50 });
        new RunSearch(traced).page({ ...filter, limit: 50, cursor: 3_000 });
      });
      for (const plan of plans) expect(plan).not.toMatch(FULL_SCAN);
    },
  );

  it('use the index each filter names', () => {
    const plan = (filter: Omit<EventFilter, 'limit'>) =>
      plansOf((traced) => new EventSearch(traced).page({ ...filter, limit: 50 })).join(' | ');
    expect(plan({ key: 'repo-7' })).toMatch(/USING INDEX events_pkey \(partitionkey=\?/);
    expect(plan({ type: 'slack.message' })).toMatch(/USING INDEX events_type \(type=\?/);
    expect(plan({ status: 'cancelled' })).toMatch(/deliveries_ended \(state=\?\)/);
    expect(plan({ status: 'dead' })).toMatch(/deliveries_dead/);
    expect(plan({ status: 'waiting' })).toMatch(/SCAN waits/);
    expect(plan({ since, until })).toMatch(/INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
    const q = plan({ q: 'repo-3' });
    expect(q).toMatch(/events_source_id/);
    expect(q).toMatch(/events_pkey/);
    expect(q).toMatch(/events_type/);
    const runPlan = (filter: Omit<RunFilter, 'limit'>) =>
      plansOf((traced) => new RunSearch(traced).page({ ...filter, limit: 50 })).join(' | ');
    expect(runPlan({ route: 'gh' })).toMatch(/USING INDEX deliveries_sub \(sub=\?/);
    expect(runPlan({ eventId: 'ev-9' })).toMatch(/deliveries_seq \(seq=\?/);
  });
});
