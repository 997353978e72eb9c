// `npm run bench`: agentd's SqliteBus + worker against BullMQ on local Redis and against raw
// better-sqlite3 running the same SQL (the floor), for throughput and publish-to-handler latency.
import { Queue, Worker as BullWorker, type ConnectionOptions } from 'bullmq';
import Table from 'cli-table3';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteBus, WAL_AUTOCHECKPOINT_PAGES } from '../src/bus/sqlite/sqlite-bus.js';
import { openDatabase } from '../src/bus/sqlite/schema.js';
import type { ResolvedRoute } from '../src/core/config.js';
import { toEvent, type AgentdEvent } from '../src/core/envelope.js';
import { on } from '../src/core/route.js';
import { createLogger } from '../src/observe/log.js';
import { createWorker } from '../src/runtime/worker.js';

const USAGE = `usage: npm run bench -- [options]   (or env BENCH_<NAME>, e.g. BENCH_EVENTS=20000)
  --events N           throughput: events per run (default 100000)
  --runs N             runs per system, throughput and latency alike; medians are reported (default 3)
  --batch N            events per publish() / addBulk() call (default 1000)
  --concurrency N      handler concurrency (default 50)
  --rate N             latency: events per second (default 1000)
  --latency-events N   latency: events measured, after a 0.5 s warm-up (default 5000)
  --redis URL          BullMQ's Redis (default redis://127.0.0.1:6379)
  --skip-bullmq        measure agentd and raw SQLite only`;

function readOptions() {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string' },
      runs: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      rate: { type: 'string' },
      'latency-events': { type: 'string' },
      redis: { type: 'string' },
      'skip-bullmq': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const int = (name: keyof typeof args, fallback: number): number => {
    const raw =
      (args[name] as string | undefined) ??
      process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
    if (raw === undefined) return fallback;
    const value = Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(value) || value <= 0)
      throw new Error(`--${name}: expected a positive integer, got "${raw}"`);
    return value;
  };
  return {
    help: args.help === true,
    events: int('events', 100_000),
    runs: int('runs', 3),
    batch: int('batch', 1_000),
    concurrency: int('concurrency', 50),
    rate: int('rate', 1_000),
    latencyEvents: int('latency-events', 5_000),
    redis: args.redis ?? process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379',
    skipBullmq: args['skip-bullmq'] === true || process.env.BENCH_SKIP_BULLMQ === '1',
  };
}

const options = (() => {
  try {
    return readOptions();
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n${USAGE}`);
    process.exit(1);
  }
})();
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}

const EVENTS = options.events;
const RUNS = options.runs;
const BATCH = options.batch;
const CONCURRENCY = options.concurrency;
const RATE = options.rate;
const LATENCY_EVENTS = options.latencyEvents;
const REDIS_URL = options.redis;
const SKIP_BULLMQ = options.skipBullmq;
const WARMUP_EVENTS = Math.ceil(RATE / 2);
const TYPE = 'bench.noop';

interface Stamp {
  i: number;
  /** performance.now() when the producer handed the event over. */
  t: number;
}

interface LatencyResult {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

const log = createLogger({ level: 'silent', pretty: false });

function makeEvents(count: number): AgentdEvent[] {
  const events: AgentdEvent[] = [];
  for (let i = 0; i < count; i++)
    events.push(toEvent({ type: TYPE, data: { i, t: 0 } }, { source: 'bench', trust: 'operator' }));
  return events;
}

function tempDb(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-'));
  return {
    path: join(dir, 'bus.db'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects if `work` takes longer than `ms`, so a stalled system fails the bench instead of hanging it. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a run may take before it counts as stalled: only a system below 1,000 events/s hits it. */
function deadline(events: number): number {
  return 30_000 + events;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  if (sorted.length % 2 === 1) return sorted[Math.floor(mid)] ?? Number.NaN;
  return ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

function percentiles(samples: number[]): LatencyResult {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
  return { p50: rank(0.5), p99: rank(0.99), max: rank(1), count: sorted.length };
}

/**
 * Publishes `total` events at a steady `rate`, each stamped just before it is handed over. Timers
 * fire about every millisecond; each tick sends whatever the schedule says is due by then.
 */
async function steadyProducer(
  total: number,
  rate: number,
  send: (stamp: Stamp) => Promise<unknown>,
): Promise<void> {
  const pending: Promise<unknown>[] = [];
  let failure: unknown;
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1_000));
    for (; sent < due; sent++) {
      // Caught at once: a send that fails early must not be an unhandled rejection meanwhile.
      const sending = send({ i: sent, t: performance.now() });
      pending.push(sending.catch((error: unknown) => (failure ??= error)));
    }
    await sleep(1);
  }
  await Promise.all(pending);
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new Error('publish failed', { cause: failure });
}

async function waitForCount(samples: unknown[], count: number, what: string): Promise<void> {
  const until = performance.now() + deadline(count);
  while (samples.length < count) {
    if (performance.now() > until) throw new Error(`${what}: only ${samples.length} of ${count}`);
    await sleep(5);
  }
}

// --- agentd: SqliteBus + the real router and worker ---

function benchRoute(handler: (event: AgentdEvent) => void): ResolvedRoute {
  return {
    ...on(TYPE, { handler, concurrency: CONCURRENCY }),
    name: 'bench',
  };
}

async function agentdThroughput(events: AgentdEvent[]): Promise<number> {
  const db = tempDb();
  const bus = new SqliteBus({ path: db.path });
  let handled = 0;
  const worker = createWorker({
    bus,
    routes: [benchRoute(() => void handled++)],
    log,
    source: 'bench',
    concurrency: CONCURRENCY,
  });
  try {
    await worker.start();
    // The run ends when the last ack is committed, not when the last handler returns: check the
    // acked count after each commit once every handler has run.
    const acked = bus.db
      .prepare<[], number>(`SELECT count(*) FROM deliveries WHERE state = 'acked'`)
      .pluck();
    let finish: (at: number) => void = () => undefined;
    const finished = new Promise<number>((resolve) => (finish = resolve));
    bus.commit.onCommit(() => {
      if (handled >= events.length && acked.get() === events.length) finish(performance.now());
    });
    const started = performance.now();
    for (let i = 0; i < events.length; i += BATCH) await bus.publish(events.slice(i, i + BATCH));
    const ended = await within(finished, deadline(events.length), 'agentd throughput');
    return (events.length / (ended - started)) * 1_000;
  } finally {
    await worker.stop();
    await bus.close();
    db.cleanup();
  }
}

async function agentdLatency(): Promise<LatencyResult> {
  const db = tempDb();
  const bus = new SqliteBus({ path: db.path });
  const samples: number[] = [];
  const worker = createWorker({
    bus,
    routes: [
      benchRoute((event) => {
        const stamp = event.data as Stamp;
        if (stamp.i >= WARMUP_EVENTS) samples.push(performance.now() - stamp.t);
      }),
    ],
    log,
    source: 'bench',
    concurrency: CONCURRENCY,
  });
  const total = WARMUP_EVENTS + LATENCY_EVENTS;
  // Built up front so the timed path is publish alone, as for BullMQ's add().
  const events = makeEvents(total);
  try {
    await worker.start();
    await steadyProducer(total, RATE, (stamp) => {
      const event = events[stamp.i] as AgentdEvent;
      event.data = stamp;
      return bus.publish([event]);
    });
    await waitForCount(samples, LATENCY_EVENTS, 'agentd latency');
    return percentiles(samples);
  } finally {
    await worker.stop();
    await bus.close();
    db.cleanup();
  }
}

// --- raw better-sqlite3: the same schema and statements, no event loop, no worker ---

function rawSqliteThroughput(events: AgentdEvent[]): number {
  const db = tempDb();
  const sqlite = openDatabase(db.path);
  // The bus's WAL policy, so the gap to agentd is the bus and worker, not checkpoint settings.
  sqlite.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  try {
    const insertEvent = sqlite.prepare(
      `INSERT INTO events (source, id, type, partitionkey, correlationid, stored_at, envelope)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, id) DO NOTHING`,
    );
    const insertDelivery = sqlite.prepare(
      `INSERT INTO deliveries (sub, seq, pkey, state, available_at, created_at)
       VALUES ('bench', ?, NULL, 'ready', ?, ?)`,
    );
    const claim = sqlite.prepare<
      [number, number, number, number],
      { id: number; seq: number; attempt: number }
    >(
      `UPDATE deliveries
          SET state = 'leased', attempt = attempt + 1, lease_until = ?, started_at = ?
        WHERE id IN (SELECT id FROM deliveries
                      WHERE sub = 'bench' AND state = 'ready' AND available_at <= ?
                      ORDER BY available_at, id LIMIT ?)
        RETURNING id, seq, attempt, available_at, errors`,
    );
    const envelope = sqlite
      .prepare<[number], string>(`SELECT envelope FROM events WHERE seq = ?`)
      .pluck();
    const ack = sqlite.prepare<[number, number, number]>(
      `UPDATE deliveries SET state = 'acked', finished_at = ?, lease_until = NULL
        WHERE id = ? AND attempt = ? AND state = 'leased' RETURNING sub, seq, pkey`,
    );
    const publish = sqlite.transaction((batch: AgentdEvent[]) => {
      const now = Date.now();
      for (const event of batch) {
        const info = insertEvent.run(
          event.source,
          event.id,
          event.type,
          null,
          event.correlationid,
          now,
          JSON.stringify(event),
        );
        insertDelivery.run(info.lastInsertRowid, now, now);
      }
    });
    const claimBatch = sqlite.transaction((max: number) => {
      const now = Date.now();
      const rows = claim.all(now + 30_000, now, now, max);
      for (const row of rows) JSON.parse(envelope.get(row.seq) as string);
      return rows;
    });
    const ackBatch = sqlite.transaction((rows: { id: number; attempt: number }[]) => {
      const now = Date.now();
      for (const row of rows) ack.get(now, row.id, row.attempt);
    });
    const started = performance.now();
    let done = 0;
    for (let i = 0; i < events.length; i += BATCH) {
      publish.immediate(events.slice(i, i + BATCH));
      for (;;) {
        const rows = claimBatch.immediate(100);
        if (rows.length === 0) break;
        ackBatch.immediate(rows);
        done += rows.length;
      }
    }
    const elapsed = performance.now() - started;
    if (done !== events.length) throw new Error(`raw sqlite: acked ${done} of ${events.length}`);
    return (events.length / elapsed) * 1_000;
  } finally {
    sqlite.close();
    db.cleanup();
  }
}

// --- BullMQ on local Redis ---

function redisConnection(): ConnectionOptions & { host: string; port: number } {
  const url = new URL(REDIS_URL);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 6379),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    maxRetriesPerRequest: null,
  };
}

/** A raw PING, so an unreachable Redis fails fast with a plain message instead of retrying. */
function pingRedis(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (why: string) => {
      socket.destroy();
      reject(
        new Error(
          `Redis at ${host}:${port} is unreachable (${why}); BullMQ needs it. Start it with\n` +
            `  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" ` +
            `--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log\n` +
            `or run with --skip-bullmq`,
        ),
      );
    };
    socket.setTimeout(2_000, () => fail('no answer within 2 s'));
    socket.once('error', (error) => fail(error.message));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      const reply = data.toString().trim();
      socket.end();
      // NOAUTH still proves a Redis is listening; BullMQ authenticates with the URL's password.
      if (reply === '+PONG' || reply.startsWith('-NOAUTH')) resolve();
      else fail(`PING answered "${reply}"`);
    });
  });
}

const QUEUE = 'agentd-bench';

/** Says once what went wrong with Redis; the run itself then fails on its deadline. */
function reportOnce(what: string): (error: Error) => void {
  let told = false;
  return (error) => {
    if (!told) console.error(`  ${what}: ${error.message}`);
    told = true;
  };
}

/** Cleanup must not hang the bench when Redis went away mid-run. */
async function closeWithin(work: Promise<unknown>, what: string): Promise<void> {
  await within(work, 10_000, what).catch(reportOnce(what));
}

async function withQueue<T>(fn: (queue: Queue) => Promise<T>): Promise<T> {
  const queue = new Queue(QUEUE, { connection: redisConnection() });
  queue.on('error', reportOnce('BullMQ queue error'));
  try {
    await within(queue.obliterate({ force: true }), 30_000, 'emptying the BullMQ queue');
    return await fn(queue);
  } finally {
    await closeWithin(queue.obliterate({ force: true }), 'emptying the BullMQ queue');
    await closeWithin(queue.close(), 'closing the BullMQ queue');
  }
}

async function bullWorker(processor: (data: Stamp) => void): Promise<BullWorker<Stamp>> {
  const worker = new BullWorker<Stamp>(QUEUE, async (job) => processor(job.data), {
    connection: redisConnection(),
    concurrency: CONCURRENCY,
  });
  worker.on('error', reportOnce('BullMQ worker error'));
  await within(worker.waitUntilReady(), 30_000, 'starting the BullMQ worker');
  return worker;
}

async function bullmqThroughput(count: number): Promise<number> {
  return withQueue(async (queue) => {
    let completed = 0;
    let finish: (at: number) => void = () => undefined;
    let fail: (error: Error) => void = () => undefined;
    const finished = new Promise<number>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // Awaited only after publishing; a failure meanwhile must not count as unhandled.
    finished.catch(() => undefined);
    const worker = await bullWorker(() => undefined);
    // 'completed' fires once moveToFinished has returned from Redis: the equivalent of our ack.
    worker.on('completed', () => {
      if (++completed === count) finish(performance.now());
    });
    worker.on('failed', (_job, error) => fail(error));
    try {
      const jobs = Array.from({ length: count }, (_, i) => ({
        name: 'noop',
        data: { i, t: 0 },
      }));
      const started = performance.now();
      for (let i = 0; i < count; i += BATCH) await queue.addBulk(jobs.slice(i, i + BATCH));
      const ended = await within(finished, deadline(count), 'BullMQ throughput');
      return (count / (ended - started)) * 1_000;
    } finally {
      await closeWithin(worker.close(), 'closing the BullMQ worker');
    }
  });
}

async function bullmqLatency(): Promise<LatencyResult> {
  return withQueue(async (queue) => {
    const samples: number[] = [];
    const worker = await bullWorker((stamp) => {
      if (stamp.i >= WARMUP_EVENTS) samples.push(performance.now() - stamp.t);
    });
    try {
      await steadyProducer(WARMUP_EVENTS + LATENCY_EVENTS, RATE, (stamp) =>
        queue.add('noop', stamp),
      );
      await waitForCount(samples, LATENCY_EVENTS, 'BullMQ latency');
      return percentiles(samples);
    } finally {
      await closeWithin(worker.close(), 'closing the BullMQ worker');
    }
  });
}

// --- main ---

const fmtRate = (v: number) => `${Math.round(v).toLocaleString('en')} /s`;
const fmtMs = (v: number) => `${v.toFixed(2)} ms`;
const load = () => loadavg()[0]?.toFixed(2) ?? '?';

interface Contender {
  name: string;
  label: string;
  throughput: () => Promise<number> | number;
  latency?: () => Promise<LatencyResult>;
  rates: number[];
  latencies: LatencyResult[];
}

function contender(
  name: string,
  label: string,
  throughput: () => Promise<number> | number,
  latency?: () => Promise<LatencyResult>,
): Contender {
  return { name, label, throughput, ...(latency ? { latency } : {}), rates: [], latencies: [] };
}

/** Median p50 and p99 over the runs, worst max. */
function summarize(runs: LatencyResult[]): LatencyResult | undefined {
  if (runs.length === 0) return undefined;
  return {
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    max: Math.max(...runs.map((r) => r.max)),
    count: runs.reduce((sum, r) => sum + r.count, 0),
  };
}

async function main(): Promise<void> {
  const connection = redisConnection();
  if (!SKIP_BULLMQ) await pingRedis(connection.host, connection.port);
  console.log(
    `bench: ${EVENTS.toLocaleString('en')} events x ${RUNS} runs, batches of ${BATCH}, ` +
      `concurrency ${CONCURRENCY}; latency: ${LATENCY_EVENTS.toLocaleString('en')} events at ` +
      `${RATE}/s x ${RUNS} runs; node ${process.version}, ${availableParallelism()} CPUs, ` +
      `load ${load()}`,
  );
  const events = makeEvents(EVENTS);
  const raw = contender('raw sqlite', 'raw better-sqlite3 (limit)', () =>
    rawSqliteThroughput(events),
  );
  const agentd = contender(
    'agentd',
    'agentd (SqliteBus + worker)',
    () => agentdThroughput(events),
    agentdLatency,
  );
  const bull = contender('BullMQ', 'BullMQ (Redis)', () => bullmqThroughput(EVENTS), bullmqLatency);
  const all = SKIP_BULLMQ ? [raw, agentd] : [raw, agentd, bull];

  // Runs are interleaved, so a burst of load from elsewhere on the machine hits all alike.
  console.log('throughput, first publish to last ack:');
  for (let run = 1; run <= RUNS; run++) {
    for (const who of all) {
      const rate = await who.throughput();
      who.rates.push(rate);
      console.log(`  run ${run}/${RUNS} ${who.name}: ${fmtRate(rate)} (load ${load()})`);
    }
  }
  console.log(`latency, publish to handler start at ${RATE}/s:`);
  for (let run = 1; run <= RUNS; run++) {
    for (const who of all) {
      if (who.latency === undefined) continue;
      const lat = await who.latency();
      who.latencies.push(lat);
      console.log(
        `  run ${run}/${RUNS} ${who.name}: p50 ${fmtMs(lat.p50)}, p99 ${fmtMs(lat.p99)}, ` +
          `max ${fmtMs(lat.max)} (load ${load()})`,
      );
    }
  }

  const table = new Table({
    head: ['', 'throughput, median', 'runs', `p50 at ${RATE}/s`, `p99 at ${RATE}/s`, 'worst max'],
    style: { head: [], border: [] },
  });
  for (const who of [agentd, ...(SKIP_BULLMQ ? [] : [bull]), raw]) {
    const lat = summarize(who.latencies);
    table.push([
      who.label,
      fmtRate(median(who.rates)),
      who.rates.map((r) => Math.round(r).toLocaleString('en')).join(' / '),
      lat === undefined ? '-' : fmtMs(lat.p50),
      lat === undefined ? '-' : fmtMs(lat.p99),
      lat === undefined ? '-' : fmtMs(lat.max),
    ]);
  }
  console.log(table.toString());

  const agentdRate = median(agentd.rates);
  const rawRate = median(raw.rates);
  const ratio = agentdRate / median(bull.rates);
  const agentdP99 = summarize(agentd.latencies)?.p99 ?? Number.NaN;
  if (!SKIP_BULLMQ) console.log(`ratio agentd/bullmq throughput: ${ratio.toFixed(2)}x`);
  console.log(
    `physical limit (raw better-sqlite3, same SQL, claim+ack in batches of 100): ` +
      `${fmtRate(rawRate)}; agentd reaches ${((agentdRate / rawRate) * 100).toFixed(0)}%`,
  );
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(
    `targets: throughput >= 2x BullMQ: ${SKIP_BULLMQ ? 'not measured' : verdict(ratio >= 2)}; ` +
      `p99 < 5 ms at ${RATE}/s: ${verdict(agentdP99 < 5)}`,
  );
  if ((loadavg()[0] ?? 0) > availableParallelism())
    console.log(
      `note: the load average (${load()}) exceeds the CPU count; other processes skew these figures`,
    );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
