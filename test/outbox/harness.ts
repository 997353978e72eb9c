// In-process agentd for outbox tests: a SqliteBus, the worker and the dispatcher wired as the daemon
// wires them (prepareOutbox + dispatcherFor), against fake GitHub and Slack servers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import type { StoredAction } from '../../src/bus/outbox-store.js';
import { validateConfig, type AgentdConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { createLogger } from '../../src/observe/log.js';
import type { Dispatcher } from '../../src/outbox/dispatcher.js';
import { dispatcherFor, prepareOutbox } from '../../src/outbox/outbox-setup.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';

export const log = createLogger({ level: (process.env.HARNESS_LOG as 'warn') ?? 'silent' });
export const SOURCE = 'agentd://test';

export interface Harness {
  bus: SqliteBus;
  worker: Worker;
  dispatcher: Dispatcher;
  dir: string;
  publish(type: string, extra?: Record<string, unknown>): Promise<AgentdEvent>;
  actions(): Promise<StoredAction[]>;
  /** Stops worker and dispatcher and closes the bus (a clean stop). */
  stop(): Promise<void>;
  /** Stops, then starts again on the same store with the same config: a restart. */
  restart(): Promise<Harness>;
}

const opened = new Set<Harness>();
const dirs: string[] = [];

export async function startAgentd(
  config: AgentdConfig,
  options: { dir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Harness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'agentd-outbox-'));
  if (options.dir === undefined) dirs.push(dir);
  const resolved = validateConfig(config, 'test');
  const setup = prepareOutbox(resolved.outbox, options.env ?? process.env);
  const bus = new SqliteBus({ path: join(dir, 'agentd.db'), source: SOURCE, sweepIntervalMs: 50 });
  const worker = createWorker({
    bus,
    routes: resolved.routes,
    log,
    source: SOURCE,
    outbox: setup.policy,
  });
  await worker.start();
  await bus.recoverLeases();
  const dispatcher = dispatcherFor(setup, bus.outbox, bus, { log, source: SOURCE });
  await dispatcher.start();
  let stopped = false;
  const harness: Harness = {
    bus,
    worker,
    dispatcher,
    dir,
    async publish(type, extra = {}) {
      const event = toEvent({ type, ...extra }, { source: 'test', trust: 'operator' });
      await bus.publish([event]);
      return event;
    },
    actions: () => bus.outbox.list({ limit: 10_000 }),
    async stop() {
      if (stopped) return;
      stopped = true;
      opened.delete(harness);
      await worker.stop();
      await dispatcher.stop();
      await bus.close();
    },
    async restart() {
      await harness.stop();
      return startAgentd(config, { ...options, dir });
    },
  };
  opened.add(harness);
  return harness;
}

/** Stops every harness still running and removes their directories (afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...opened].map((h) => h.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Repeats `check` until it holds. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
