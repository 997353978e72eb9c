// A bus and a worker wired from a config as the daemon wires contracts (an ingest gate from its
// types, a registry to upcast with), on a SQLite file in a temp directory, for the contracts tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { ingestGateFor, registryFor } from '../../src/contracts/config-contracts.js';
import { validateConfig, type AgentdConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';

const log = createLogger({ level: 'silent' });
const dirs: string[] = [];
const running = new Set<() => Promise<void>>();

export interface WithContracts {
  bus: SqliteBus;
  worker: Worker;
  /** Stops the worker, then closes the bus (a clean stop). */
  close(): Promise<void>;
}

/** A database path in a fresh temp directory, removed by stopAllWithContracts(). */
export function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-contracts-'));
  dirs.push(dir);
  return join(dir, 'agentd.db');
}

export async function startWithContracts(path: string, raw: AgentdConfig): Promise<WithContracts> {
  const config = validateConfig(raw, 'test');
  const gate = ingestGateFor(config);
  const bus = new SqliteBus({
    path,
    source: 'agentd://test',
    ...(gate === undefined ? {} : { gate }),
  });
  const worker = createWorker({
    bus,
    routes: config.routes,
    registry: registryFor(config),
    log,
    source: 'agentd://test',
  });
  await worker.start();
  const close = async () => {
    running.delete(close);
    await worker.stop();
    await bus.close();
  };
  running.add(close);
  return { bus, worker, close };
}

/** Stops every bus and worker still running and removes the temp directories (afterEach). */
export async function stopAllWithContracts(): Promise<void> {
  for (const close of [...running]) await close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
