// `npm run bench:governor`: what admission costs per delivery. The same SqliteBus + worker workload
// (no-op handlers that report a small token usage, the worst case: nothing hides the bookkeeping)
// runs with a plain route ("off") and with a governed one ("on": a priority, a rate limit too high
// to bind, and a token budget too large to spend, so every run is reserved, settled and booked in
// the governor's SQLite store), interleaved run by run; medians and their ratio are printed. Then
// the admission path alone (a route gate's room, claim, admit and settle, the store included, no
// bus and no handler), which the end-to-end numbers bury in the bus's own cost.
import Table from 'cli-table3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteBus } from '../src/bus/sqlite/sqlite-bus.js';
import type { ResolvedRoute } from '../src/core/config.js';
import { toEvent, type AgentdEvent } from '../src/core/envelope.js';
import { on, type RouteOptions } from '../src/core/route.js';
import type { Delivery } from '../src/bus/bus.js';
import { Governor } from '../src/governor/governor.js';
import { SqliteGovernorStore } from '../src/governor/sqlite-governor-store.js';
import { createLogger } from '../src/observe/log.js';
import { createWorker } from '../src/runtime/worker.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: process.env.BENCH_EVENTS ?? '20000' },
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '5' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
  },
});
const EVENTS = Number(args.events);
const RUNS = Number(args.runs);
const BATCH = Number(args.batch);
const CONCURRENCY = Number(args.concurrency);
const TYPE = 'bench.governor';
const log = createLogger({ level: 'silent' });

/** What an agent handler returns, so both modes do the same work; only "on" books it. */
const RESULT = { usage: { totalTokens: 10, costUsd: 0.0001 } };

interface Mode {
  name: string;
  options: Partial<RouteOptions>;
}

const MODES: Mode[] = [
  { name: 'off', options: {} },
  {
    name: 'on',
    options: {
      priority: 5,
      rateLimit: { limit: 1_000_000_000, periodMs: 1_000 },
      budget: { tokens: 1_000_000_000_000, costUsd: 1_000_000, window: 'day' },
    },
  },
];

interface Sample {
  rate: number;
  /** This process's CPU time per event: steadier than wall time on a shared machine. */
  cpuUsPerEvent: number;
}

async function throughput(mode: Mode, events: AgentdEvent[]): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-governor-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  let handled = 0;
  const route: ResolvedRoute = {
    ...on(TYPE, {
      ...mode.options,
      concurrency: CONCURRENCY,
      handler: () => {
        handled++;
        return RESULT;
      },
    }),
    name: 'bench',
  };
  const worker = createWorker({
    bus,
    routes: [route],
    log,
    source: 'bench',
    concurrency: CONCURRENCY,
    governor: { store: await SqliteGovernorStore.open(bus) },
  });
  try {
    await worker.start();
    const acked = bus.db
      .prepare<[], number>(`SELECT count(*) FROM deliveries WHERE state = 'acked'`)
      .pluck();
    let finish: (at: number) => void = () => undefined;
    const finished = new Promise<number>((resolve) => (finish = resolve));
    bus.commit.onCommit(() => {
      if (handled >= events.length && acked.get() === events.length) finish(performance.now());
    });
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < events.length; i += BATCH) await bus.publish(events.slice(i, i + BATCH));
    const ended = await finished;
    const used = process.cpuUsage(cpu);
    if (mode.name === 'on') {
      const booked = worker.governorStatus?.().routes[0]?.budget?.tokens?.used;
      if (booked !== events.length * RESULT.usage.totalTokens)
        throw new Error(`the budget booked ${booked} tokens, not ${events.length * 10}`);
    }
    return {
      rate: (events.length / (ended - started)) * 1_000,
      cpuUsPerEvent: (used.user + used.system) / events.length,
    };
  } finally {
    await worker.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU µs per delivery through a route gate alone, deliveries 50 at a time as the worker has them. */
async function admissionOnly(mode: Mode, count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-governor-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  const route: ResolvedRoute = {
    ...on(TYPE, { ...mode.options, handler: () => RESULT }),
    name: 'bench',
  };
  const governor = new Governor({
    concurrency: CONCURRENCY,
    log,
    source: 'bench',
    publish: (events) => bus.publish(events),
    store: await SqliteGovernorStore.open(bus),
  });
  const gate = governor.gate(route);
  await governor.start();
  const deliveries = makeEvents(count).map(
    (event) => ({ event, attempt: 1, deliveryId: event.id }) as unknown as Delivery,
  );
  try {
    const cpu = process.cpuUsage();
    for (let i = 0; i < count; i += CONCURRENCY) {
      const wave = deliveries.slice(i, i + CONCURRENCY);
      if (gate.room().room < wave.length) throw new Error('the gate held back a delivery');
      const tickets = gate.claimed(wave.length);
      await Promise.all(
        wave.map(async (delivery, n) => {
          const ticket = tickets[n]!;
          if ((await gate.admit(delivery)).kind !== 'run') throw new Error('not admitted');
          await gate.settle(ticket, RESULT);
          gate.release(ticket);
        }),
      );
    }
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / count;
  } finally {
    await governor.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(): Promise<void> {
  const results = new Map<string, Sample[]>(MODES.map((m) => [m.name, []]));
  process.stdout.write(
    `${EVENTS} no-op events per run, ${RUNS} runs per mode (interleaved), concurrency ${CONCURRENCY}\n`,
  );
  // A warm-up run so JIT and page cache treat both modes alike.
  for (const mode of MODES) await throughput(mode, makeEvents(Math.min(EVENTS, 5_000)));
  for (let run = 0; run < RUNS; run++) {
    for (const mode of MODES) {
      const sample = await throughput(mode, makeEvents(EVENTS));
      results.get(mode.name)?.push(sample);
      process.stdout.write(
        `  run ${run + 1} ${mode.name}: ${Math.round(sample.rate)} events/s, ${sample.cpuUsPerEvent.toFixed(1)} µs CPU/event\n`,
      );
    }
  }
  const rateOf = (name: string) => median((results.get(name) ?? []).map((s) => s.rate));
  // The least CPU a mode needed: on a shared machine, other processes only ever add to it.
  const cpuOf = (name: string) =>
    Math.min(...(results.get(name) ?? []).map((s) => s.cpuUsPerEvent));
  const table = new Table({
    head: [
      'governor',
      'events/s (median)',
      'throughput vs off',
      'CPU µs/event (min)',
      'CPU vs off',
    ],
  });
  for (const mode of MODES)
    table.push([
      mode.name,
      Math.round(rateOf(mode.name)).toLocaleString('en'),
      (rateOf(mode.name) / rateOf('off')).toFixed(3),
      cpuOf(mode.name).toFixed(1),
      (cpuOf(mode.name) / cpuOf('off')).toFixed(3),
    ]);
  process.stdout.write(
    `${table.toString()}\nend to end: ${(cpuOf('on') - cpuOf('off')).toFixed(1)} µs CPU more per delivery with the governor on (on / off = ${(cpuOf('on') / cpuOf('off')).toFixed(3)})\n`,
  );
  const alone = new Map<string, number[]>(MODES.map((m) => [m.name, []]));
  for (let run = 0; run < RUNS; run++)
    for (const mode of MODES) alone.get(mode.name)?.push(await admissionOnly(mode, EVENTS));
  const aloneOf = (name: string) => Math.min(...(alone.get(name) ?? []));
  process.stdout.write(
    `admission alone (min of ${RUNS}): off ${aloneOf('off').toFixed(2)} µs, on ${aloneOf('on').toFixed(2)} µs CPU per delivery (on / off = ${(aloneOf('on') / aloneOf('off')).toFixed(2)})\n`,
  );
}

function makeEvents(count: number): AgentdEvent[] {
  return Array.from({ length: count }, () =>
    toEvent({ type: TYPE }, { source: 'bench', trust: 'internal' }),
  );
}

await main();
