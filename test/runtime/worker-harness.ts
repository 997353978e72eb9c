// A worker on a real SqliteBus with the governor's SQLite store, for the governor's worker tests:
// clocks can be controlled (the governor's and the bus's separately), the worker restarted on the
// same store, and the store read back (runs, events, dead letters).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunRecord } from '../../src/bus/sqlite/inspect-sql.js';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import type { Clock } from '../../src/core/clock.js';
import { validateConfig, type AgentdConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent, type EventInput } from '../../src/core/envelope.js';
import type { GovernorSettings } from '../../src/governor/governor.js';
import { SqliteGovernorStore } from '../../src/governor/sqlite-governor-store.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';

const log = createLogger({ level: 'silent' });

export interface HarnessOptions {
  concurrency?: number;
  /** The governor's clock (rate limits, budget windows). */
  clock?: Clock;
  /** The bus's clock (delays, defers); default the system clock. */
  busClock?: Clock;
  governor?: Omit<GovernorSettings, 'store' | 'clock'>;
  shutdownGraceMs?: number;
}

export interface GovernedHarness {
  bus: SqliteBus;
  worker: Worker;
  store: SqliteGovernorStore;
  publish(type: string, extra?: Partial<EventInput>): Promise<AgentdEvent>;
  runs(route: string): RunRecord[];
  /** Stored events of a type, in publish order. */
  events(type: string): AgentdEvent[];
  /** Stops the worker and starts a new one on the same bus and store (a restart of the daemon). */
  restart(): Promise<void>;
}

const open: { dir: string; bus: SqliteBus; harness: { worker: Worker } }[] = [];

export async function governedWorker(
  routes: NonNullable<AgentdConfig['routes']>,
  options: HarnessOptions = {},
): Promise<GovernedHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-governor-worker-'));
  const bus = new SqliteBus({
    path: join(dir, 'agentd.db'),
    source: 'agentd://test',
    ...(options.busClock === undefined ? {} : { clock: options.busClock }),
  });
  const store = await SqliteGovernorStore.open(bus);
  const config = validateConfig({ routes }, 'test');
  const make = () =>
    createWorker({
      bus,
      routes: config.routes,
      log,
      source: 'agentd://test',
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.shutdownGraceMs === undefined
        ? {}
        : { shutdownGraceMs: options.shutdownGraceMs }),
      governor: {
        ...options.governor,
        store,
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      },
    });
  const inspector = new SqliteInspector(bus.db);
  const harness: GovernedHarness = {
    bus,
    worker: make(),
    store,
    async publish(type, extra = {}) {
      const event = toEvent({ type, ...extra }, { source: 'test', trust: 'operator' });
      await bus.publish([event]);
      return event;
    },
    runs: (route) => inspector.runs({ route, limit: 10_000 }).reverse(),
    events: (type) =>
      bus.db
        .prepare<[string], string>(`SELECT envelope FROM events WHERE type = ? ORDER BY seq`)
        .pluck()
        .all(type)
        .map((envelope) => JSON.parse(envelope) as AgentdEvent),
    async restart() {
      await harness.worker.stop();
      harness.worker = make();
      await harness.worker.start();
    },
  };
  await harness.worker.start();
  open.push({ dir, bus, harness });
  return harness;
}

export async function closeHarnesses(): Promise<void> {
  for (const { dir, bus, harness } of open.splice(0)) {
    await harness.worker.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not met in ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Counts runs by status, e.g. { completed: 3, queued: 7 }. */
export function statuses(runs: readonly RunRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const run of runs) counts[run.status] = (counts[run.status] ?? 0) + 1;
  return counts;
}
