// `npm run bench:nats`: end-to-end throughput of the NATS JetStream bus with 1 and 3 worker
// processes, next to the embedded SQLite bus in the same run. Events are published in batches,
// then the clock runs until every one was handled (no-op handler). Needs NATS on :4222.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import Table from 'cli-table3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { NatsBus } from '../src/bus/nats/nats-bus.js';
import { subscriptionToken } from '../src/bus/nats/names.js';
import { SqliteBus } from '../src/bus/sqlite/sqlite-bus.js';
import type { Bus } from '../src/bus/bus.js';
import { toEvent, type AgentdEvent } from '../src/core/envelope.js';
import { on } from '../src/core/route.js';
import { createLogger } from '../src/observe/log.js';
import { createWorker } from '../src/runtime/worker.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string' },
    batch: { type: 'string' },
    concurrency: { type: 'string' },
    keys: { type: 'string' },
    nats: { type: 'string' },
    'keyed-only': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help === true) {
  console.log(`usage: npm run bench:nats -- [options]   (each also as env BENCH_<NAME>)
  --events N        events per measurement (default 20000)
  --batch N         events per publish() call (default 500)
  --concurrency N   handler concurrency per worker (default 50)
  --keys N          partition keys in the keyed measurement (default 100)
  --nats URL        NATS server (default 127.0.0.1:4222)
  --keyed-only      measure only the keyed rows`);
  process.exit(0);
}
const num = (name: keyof typeof args, fallback: number) =>
  Number(
    (args[name] as string | undefined) ?? process.env[`BENCH_${name.toUpperCase()}`] ?? fallback,
  );
const EVENTS = num('events', 20_000);
const BATCH = num('batch', 500);
const CONCURRENCY = num('concurrency', 50);
const KEYS = num('keys', 100);
const NATS = args.nats ?? process.env.BENCH_NATS ?? '127.0.0.1:4222';
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CHILD = fileURLToPath(new URL('./nats-worker.ts', import.meta.url));
const log = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makeEvents(keyed: boolean): AgentdEvent[] {
  return Array.from({ length: EVENTS }, (_, i) =>
    toEvent(
      keyed
        ? { type: 'bench.keyed', data: { i }, partitionkey: `k${i % KEYS}` }
        : { type: 'bench.noop', data: { i } },
      { source: 'bench', trust: 'operator' },
    ),
  );
}

interface Result {
  publishPerSec: number;
  endToEndPerSec: number;
}

async function publishAll(bus: Bus, events: AgentdEvent[]): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < events.length; i += BATCH) await bus.publish(events.slice(i, i + BATCH));
  return performance.now() - start;
}

/** SQLite: bus and worker in this process, as `agentd start` runs them. */
async function sqlite(keyed: boolean): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-'));
  const bus = new SqliteBus({ path: join(dir, 'bus.db') });
  let handled = 0;
  const worker = createWorker({
    bus,
    log,
    source: 'bench',
    concurrency: CONCURRENCY,
    routes: [
      {
        ...on(['bench.noop', 'bench.keyed'], {
          concurrency: CONCURRENCY,
          handler: () => void handled++,
        }),
        name: 'bench',
      },
    ],
  });
  await worker.start();
  const start = performance.now();
  const publishMs = await publishAll(bus, makeEvents(keyed));
  while (handled < EVENTS) await sleep(5);
  const total = performance.now() - start;
  await worker.stop();
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
  return { publishPerSec: EVENTS / (publishMs / 1000), endToEndPerSec: EVENTS / (total / 1000) };
}

/** NATS: `workers` worker processes (as `agentd start --workers N` runs them), this one publishes. */
async function nats(workers: number, keyed: boolean): Promise<Result> {
  const stream = `BENCH${process.pid}_${workers}_${keyed ? 'K' : 'U'}`;
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-'));
  const bus = await NatsBus.connect({ servers: NATS, stream });
  const children: ChildProcess[] = [];
  try {
    const ready = Array.from({ length: workers }, (_, i) => {
      const child = spawn(
        process.execPath,
        ['--import', TSX, CHILD, NATS, stream, String(CONCURRENCY), join(dir, `w${i}`)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(child);
      return new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    });
    await Promise.all(ready);
    const start = performance.now();
    const publishMs = await publishAll(bus, makeEvents(keyed));
    const consumer = subscriptionToken('bench');
    for (;;) {
      const info = await bus.store.jsm.consumers.info(stream, consumer);
      if (
        info.num_pending === 0 &&
        info.num_ack_pending === 0 &&
        info.ack_floor.stream_seq >= EVENTS
      )
        break;
      await sleep(20);
    }
    const total = performance.now() - start;
    return { publishPerSec: EVENTS / (publishMs / 1000), endToEndPerSec: EVENTS / (total / 1000) };
  } finally {
    await Promise.all(
      children.map((c) => new Promise((resolve) => (c.once('exit', resolve), c.kill('SIGTERM')))),
    );
    await bus.close();
    const nc = await connect({ servers: NATS });
    const jsm = await jetstreamManager(nc);
    for (const name of [
      stream,
      `${stream}_DLQ`,
      `${stream}_QUARANTINE`,
      `KV_${stream}_state`,
      `KV_${stream}_outbox`,
    ])
      await jsm.streams.delete(name).catch(() => false);
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const table = new Table({
  head: ['bus', 'workers', 'events', 'publish events/s', 'end-to-end events/s'],
  style: { head: [], border: [] },
});
console.log(
  `${EVENTS} events, batches of ${BATCH}, concurrency ${CONCURRENCY} per worker, ${KEYS} keys when keyed`,
);
for (const keyed of args['keyed-only'] === true ? [true] : [false, true]) {
  const label = keyed ? `keyed (${KEYS} keys)` : 'no key';
  const rows: [string, number, Result][] = [
    ['SQLite (embedded)', 1, await sqlite(keyed)],
    ['NATS JetStream', 1, await nats(1, keyed)],
    ['NATS JetStream', 3, await nats(3, keyed)],
  ];
  for (const [bus, workers, r] of rows)
    table.push([bus, workers, label, Math.round(r.publishPerSec), Math.round(r.endToEndPerSec)]);
}
console.log(table.toString());
