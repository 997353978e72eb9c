// `npm run bench:history [-- --events N]`: what the NATS history costs. (1) The run path: no-op
// runs on the NATS bus with and without publishing each run change, alternating, median of 3
// each, as a ratio. (2) Building the history file: reading the events and run-change streams into
// a new file, next to raw better-sqlite3 inserting the same events in batches (the physical limit)
// in the same run. Needs NATS on :4222.
import Table from 'cli-table3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NatsBus } from '../src/bus/nats/nats-bus.js';
import { openDatabase } from '../src/bus/sqlite/schema.js';
import { toEvent, type AgentdEvent } from '../src/core/envelope.js';
import { on } from '../src/core/route.js';
import { HistoryProjection } from '../src/history/history-projection.js';
import { runHistoryPublisher } from '../src/history/nats-history.js';
import { createLogger } from '../src/observe/log.js';
import { DaemonObserver } from '../src/observe/run-observer.js';
import { createWorker } from '../src/runtime/worker.js';

const { values: args } = parseArgs({
  options: { events: { type: 'string' }, nats: { type: 'string' } },
});
const EVENTS = Number(args.events ?? process.env.BENCH_EVENTS ?? 10_000);
const NATS = args.nats ?? process.env.BENCH_NATS ?? '127.0.0.1:4222';
const BATCH = 500;
const log = createLogger({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-history-'));
let namespaces = 0;

function makeEvents(): AgentdEvent[] {
  return Array.from({ length: EVENTS }, (_, i) =>
    toEvent(
      { type: 'bench.noop', id: `e${i}`, data: { i } },
      { source: 'bench', trust: 'internal' },
    ),
  );
}

/** Events per second through a no-op route; the bus stays open for the history measurement. */
async function runPath(withHistory: boolean): Promise<{ rate: number; bus: NatsBus }> {
  const stream = `BENCHHIST${process.pid}_${++namespaces}`;
  const bus = await NatsBus.connect({ servers: NATS, stream, retentionMs: 60 * 60_000 });
  let handled = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const worker = createWorker({
    bus,
    log,
    source: 'bench',
    concurrency: 50,
    routes: [
      {
        ...on('bench.noop', {
          concurrency: 50,
          ordering: 'none',
          handler: () => {
            if (++handled === EVENTS) done();
          },
        }),
        name: 'noop',
      },
    ],
    ...(withHistory
      ? { observer: new DaemonObserver({ history: runHistoryPublisher(bus, log) }) }
      : {}),
  });
  await worker.start();
  const events = makeEvents();
  const started = performance.now();
  for (let i = 0; i < events.length; i += BATCH) await bus.publish(events.slice(i, i + BATCH));
  await finished;
  const rate = EVENTS / ((performance.now() - started) / 1_000);
  await worker.stop();
  return { rate, bus };
}

/** Messages per second read into a new history file, until it holds both streams. */
async function build(bus: NatsBus): Promise<number> {
  const { jsm, names } = bus.store;
  const target = {
    events: (await jsm.streams.info(names.stream)).state.last_seq,
    runs: (await jsm.streams.info(names.historyStream)).state.last_seq,
  };
  const started = performance.now();
  const path = join(dir, `history-${namespaces}.db`);
  const projection = await HistoryProjection.open({ store: bus.store, path, retentionMs: 0, log });
  const at = () => projection.positions();
  while (at().events < target.events || at().runs < target.runs)
    await new Promise((resolve) => setTimeout(resolve, 5));
  const rate = (target.events + target.runs) / ((performance.now() - started) / 1_000);
  await projection.close();
  return rate;
}

/** Raw inserts of the same events into the same schema, in batches of 1,000. */
function rawInserts(): number {
  const db = openDatabase(join(dir, `raw-${namespaces}.db`));
  const insert = db.prepare(
    `INSERT INTO events (seq, source, id, type, partitionkey, correlationid, stored_at, envelope)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const events = makeEvents();
  const started = performance.now();
  for (let i = 0; i < events.length; i += 1_000)
    db.transaction(() => {
      events.slice(i, i + 1_000).forEach((e, j) => {
        const row = [e.source, e.id, e.type, null, e.correlationid, Date.now(), JSON.stringify(e)];
        insert.run(i + j + 1, ...row);
      });
    })();
  const rate = EVENTS / ((performance.now() - started) / 1_000);
  db.close();
  return rate;
}

/** Deletes the streams and buckets of one namespace. */
async function drop(bus: NatsBus): Promise<void> {
  const { jsm, names } = bus.store;
  const streams: string[] = [];
  for await (const info of jsm.streams.list()) streams.push(info.config.name);
  for (const name of streams)
    if (name.startsWith(names.stream) || name.startsWith(`KV_${names.stream}_`))
      await jsm.streams.delete(name);
  await bus.close();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const rates = {
  without: [] as number[],
  with: [] as number[],
  build: [] as number[],
  raw: [] as number[],
};
try {
  for (let round = 0; round < 3; round++) {
    const plain = await runPath(false);
    rates.without.push(plain.rate);
    await drop(plain.bus);
    const kept = await runPath(true);
    rates.with.push(kept.rate);
    rates.build.push(await build(kept.bus));
    rates.raw.push(rawInserts());
    await drop(kept.bus);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const m = {
  without: median(rates.without),
  with: median(rates.with),
  build: median(rates.build),
  raw: median(rates.raw),
};
const table = new Table({ head: ['measurement', 'median /s', 'ratio'] });
table.push(
  ['no-op runs, no history', Math.round(m.without), '1.00'],
  ['no-op runs, history published', Math.round(m.with), (m.with / m.without).toFixed(2)],
  ['raw SQLite inserts of the events', Math.round(m.raw), '1.00'],
  ['history file built (events + changes)', Math.round(m.build), (m.build / m.raw).toFixed(2)],
);
console.log(`${EVENTS} events per measurement, 3 rounds each, NATS at ${NATS}`);
console.log(table.toString());
