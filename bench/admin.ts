// `npm run bench:admin`: the admin API's event and run filters on a store of 100,000 events (two
// routes; runs completed, dead, cancelled, retrying and queued), each filter's first page and a
// deep one (cursor near the oldest events), against the schema 2 queries (admin-baseline.ts) on a
// copy of the same store without schema 3's indexes. Both must return the same page. Medians.
// Then what those indexes cost a publish: the same events into a fresh store with and without
// them, runs interleaved.
import Table from 'cli-table3';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSearch, type EventFilter } from '../src/bus/sqlite/event-search-sql.js';
import { RunSearch, type RunFilter } from '../src/bus/sqlite/run-search-sql.js';
import { openDatabase } from '../src/bus/sqlite/schema.js';
import { SqliteBus } from '../src/bus/sqlite/sqlite-bus.js';
import { systemClock, type Clock } from '../src/core/clock.js';
import { toEvent, type AgentdEvent } from '../src/core/envelope.js';
import { legacyEvents, legacyRuns } from './admin-baseline.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const BATCH = 1_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');
/** Stored time advances a second per batch of 1,000 events. */
const MS_PER_BATCH = 1_000;
const LIMIT = 50;
const SCHEMA_3_INDEXES = ['events_pkey', 'deliveries_sub', 'deliveries_ended'];
const PUBLISH_EVENTS = 20_000;
const PUBLISH_RUNS = 3;

function eventAt(n: number): AgentdEvent {
  // 40% pushes, 40% pull request and comment events on 1,000 repos, cron ticks without a key,
  // and a rare slack type on its own keys.
  const [type, key] =
    n % 200 === 7
      ? ['slack.message', `thread-${n}`]
      : n % 5 < 2
        ? ['github.push', `repo-${n % 1_000}`]
        : n % 5 === 2
          ? ['github.pull_request.opened', `repo-${n % 1_000}`]
          : n % 5 === 3
            ? ['github.issue_comment.created', `repo-${n % 1_000}`]
            : ['cron.tick', undefined];
  return toEvent(
    { type, id: `ev-${n}`, ...(key === undefined ? {} : { partitionkey: key }), data: { n } },
    { source: n % 3 === 0 ? 'github' : 'bench', trust: 'internal' },
  );
}

const routeOptions = (types: string[]) => ({
  types,
  maxAttempts: 3,
  backoff: { initialMs: 10, maxMs: 50, factor: 2 },
  leaseMs: 5_000,
  ordering: 'none' as const,
});

/** Publishes `count` events in batches into a bus with the two routes; returns events/s. */
async function publishAll(bus: SqliteBus, count: number, tick: () => void): Promise<number> {
  await bus.subscribe('all', routeOptions(['**']));
  await bus.subscribe('github', routeOptions(['github.**']));
  const start = process.hrtime.bigint();
  for (let first = 0; first < count; first += BATCH) {
    await bus.publish(
      Array.from({ length: Math.min(BATCH, count - first) }, (_, i) => eventAt(first + i)),
    );
    tick();
  }
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function buildStore(path: string): Promise<void> {
  let now = T0;
  const clock: Clock = {
    now: () => now,
    setTimer: (callback, ms) => systemClock.setTimer(callback, ms),
  };
  const bus = new SqliteBus({ path, clock, retentionMs: 0 });
  await publishAll(bus, EVENTS, () => (now += MS_PER_BATCH));
  // Runs settle as a worker would leave them: most completed, 2% dead, 0.2% cancelled, 0.1%
  // retrying, and the newest 500 events' runs still queued.
  bus.db.exec(`
    UPDATE deliveries SET state = 'acked', attempt = 1, started_at = created_at,
           finished_at = created_at + 5 WHERE seq <= ${EVENTS - 500};
    UPDATE deliveries SET state = 'dead', attempt = 3, reason = 'bench', errors = '[]'
     WHERE sub = 'all' AND seq % 50 = 1 AND seq <= ${EVENTS - 500};
    UPDATE deliveries SET state = 'cancelled', reason = 'bench'
     WHERE sub = 'all' AND seq % 500 = 3 AND seq <= ${EVENTS - 500};
    UPDATE deliveries SET state = 'ready', attempt = 1, finished_at = NULL
     WHERE sub = 'all' AND seq % 1000 = 5 AND seq <= ${EVENTS - 500};
  `);
  await bus.close();
}

interface Case {
  name: string;
  events?: Omit<EventFilter, 'limit' | 'cursor'>;
  runs?: Omit<RunFilter, 'limit' | 'cursor'>;
}

const since = T0 + ((EVENTS / BATCH) * MS_PER_BATCH * 9) / 10;
const CASES: Case[] = [
  { name: 'events: none', events: {} },
  { name: 'events: type (40%)', events: { type: 'github.push' } },
  { name: 'events: type (0.5%)', events: { type: 'slack.message' } },
  { name: 'events: type github.** (80%)', events: { type: 'github.**' } },
  { name: 'events: type slack.* (0.5%)', events: { type: 'slack.*' } },
  { name: 'events: key (0.08%)', events: { key: 'repo-42' } },
  { name: 'events: q = id', events: { q: 'ev-12345' } },
  { name: 'events: q = type (0.5%)', events: { q: 'slack.message' } },
  { name: 'events: q = key', events: { q: 'repo-42' } },
  { name: 'events: status dead (2%)', events: { status: 'dead' } },
  { name: 'events: status cancelled (0.2%)', events: { status: 'cancelled' } },
  { name: 'events: status retrying', events: { status: 'retrying' } },
  { name: 'events: status queued', events: { status: 'queued' } },
  { name: 'events: status completed', events: { status: 'completed' } },
  { name: 'events: since (last 10%)', events: { since } },
  { name: 'events: type + key', events: { type: 'github.push', key: 'repo-40' } },
  { name: 'events: type + status dead', events: { type: 'github.**', status: 'dead' } },
  { name: 'events: key + since', events: { key: 'repo-42', since } },
  { name: 'runs: none', runs: {} },
  { name: 'runs: route (github)', runs: { route: 'github' } },
  { name: 'runs: status dead', runs: { status: 'dead' } },
  { name: 'runs: status cancelled', runs: { status: 'cancelled' } },
  { name: 'runs: route + status dead', runs: { route: 'all', status: 'dead' } },
  { name: 'runs: event id', runs: { eventId: 'ev-12345' } },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function time(fn: () => number[]): { ms: number; result: number[] } {
  let result: number[] = [];
  const samples: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = process.hrtime.bigint();
    result = fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { ms: median(samples), result };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-admin-'));
  try {
    const path = join(dir, 'agentd.db');
    process.stdout.write(`building a store of ${EVENTS.toLocaleString('en')} events…\n`);
    await buildStore(path);
    const db = openDatabase(path);
    const oldPath = join(dir, 'schema2.db');
    db.exec(`VACUUM INTO '${oldPath}'`);
    const old = new Database(oldPath);
    for (const index of SCHEMA_3_INDEXES) old.exec(`DROP INDEX ${index}`);
    old.pragma('user_version = 2');

    const events = new EventSearch(db);
    const runs = new RunSearch(db);
    // Deep: the page below the oldest 10% of the events (or of the runs).
    const deepSeq = Math.floor(EVENTS / 10);
    const deepRun = Math.floor(
      ((db.prepare(`SELECT max(id) AS n FROM deliveries`).get() as { n: number }).n * 1) / 10,
    );
    const table = new Table({
      head: ['filter', 'first page', 'schema 2', 'speed-up', 'deep page', 'schema 2', 'speed-up'],
    });
    const mismatches: string[] = [];
    for (const c of CASES) {
      const row: string[] = [c.name];
      for (const cursor of [undefined, c.events === undefined ? deepRun : deepSeq]) {
        const page = { limit: LIMIT, ...(cursor === undefined ? {} : { cursor }) };
        const now =
          c.events !== undefined
            ? time(() => events.page({ ...c.events, ...page }).rows.map((r) => r.seq))
            : time(() => runs.page({ ...c.runs, ...page }).rows.map((r) => r.id));
        const before =
          c.events !== undefined
            ? time(() => legacyEvents(old, { ...c.events, ...page }))
            : time(() => legacyRuns(old, { ...c.runs, ...page }));
        if (now.result.join() !== before.result.join())
          mismatches.push(`${c.name}${cursor === undefined ? '' : ` below ${cursor}`}`);
        row.push(ms(now.ms), ms(before.ms), `${(before.ms / now.ms).toFixed(1)}x`);
      }
      table.push(row);
    }
    process.stdout.write(`${table.toString()}\n`);
    process.stdout.write(
      `page of ${LIMIT}, median of ${REPEATS}; rows only (summaries cost the same)\n`,
    );

    // The migration a schema 2 store goes through on its first open: building the new indexes.
    old.close();
    const start = process.hrtime.bigint();
    openDatabase(oldPath).close();
    process.stdout.write(
      `migration 2 -> 3 on ${EVENTS.toLocaleString('en')} events: ${ms(Number(process.hrtime.bigint() - start) / 1e6)}\n`,
    );
    db.close();
    await publishCost(dir);
    if (mismatches.length > 0) {
      process.stdout.write(`DIFFERENT PAGES from the schema 2 queries: ${mismatches.join('; ')}\n`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Publish throughput with schema 3's indexes against without them, interleaved run by run. */
async function publishCost(dir: string): Promise<void> {
  const rates = { with: [] as number[], without: [] as number[] };
  for (let run = 0; run < PUBLISH_RUNS; run++) {
    for (const mode of ['with', 'without'] as const) {
      const path = join(dir, `publish-${mode}-${run}.db`);
      const bus = new SqliteBus({ path, retentionMs: 0 });
      if (mode === 'without')
        for (const index of SCHEMA_3_INDEXES) bus.db.exec(`DROP INDEX ${index}`);
      rates[mode].push(await publishAll(bus, PUBLISH_EVENTS, () => undefined));
      await bus.close();
    }
  }
  const withIndexes = median(rates.with);
  const without = median(rates.without);
  process.stdout.write(
    `publish, ${PUBLISH_EVENTS.toLocaleString('en')} events into two routes (median of ${PUBLISH_RUNS}): ` +
      `${Math.round(withIndexes).toLocaleString('en')}/s with schema 3's indexes, ` +
      `${Math.round(without).toLocaleString('en')}/s without (with / without = ${(withIndexes / without).toFixed(3)})\n`,
  );
}

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`;
}

await main();
