// A real SqliteBus in a temp directory for the cron, fs and process source tests, with its source
// state store and a way to read back what the sources published; and sources started and stopped
// as the daemon does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { SqliteSourceState } from '../../src/bus/sqlite/source-state-sql.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { sourceStateOf, type SourceState } from '../../src/core/source-state.js';
import { createLogger } from '../../src/observe/log.js';
import type { Publish, Source } from '../../src/sources/source.js';

export const log = createLogger({ level: 'silent' });

export interface LocalBus {
  dir: string;
  bus: SqliteBus;
  publish: Publish;
  /** Source state as the daemon hands it to the source named `name`. */
  stateOf(name: string): SourceState;
  /** Stored events whose type starts with `prefix`, in publish order. */
  stored(prefix: string): AgentdEvent[];
  /** Closes the bus and removes the directory. */
  close(): Promise<void>;
}

export function openLocalBus(): LocalBus {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-sources-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  const states = new SqliteSourceState(bus);
  return {
    dir,
    bus,
    publish: (events) => bus.publish(events),
    stateOf: (name) => sourceStateOf(states, name),
    stored: (prefix) =>
      bus.db
        .prepare<[string, string], { envelope: string }>(
          `SELECT envelope FROM events WHERE substr(type, 1, length(?)) = ? ORDER BY seq`,
        )
        .all(prefix, prefix)
        .map((row) => JSON.parse(row.envelope) as AgentdEvent),
    async close() {
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const running = new Set<() => Promise<void>>();

/**
 * Starts `source` publishing into `publish`, as the daemon does. Returns its stop (abort, then wait
 * until it stopped), which stopSources() calls for every source still running, even one whose
 * start failed.
 */
export async function startSource(
  source: Source & { stopped(): Promise<void> },
  publish: Publish,
  state?: SourceState,
): Promise<() => Promise<void>> {
  const controller = new AbortController();
  const stop = async () => {
    running.delete(stop);
    controller.abort();
    await source.stopped();
  };
  running.add(stop);
  await source.start(publish, controller.signal, state);
  return stop;
}

/** Stops every source still running, oldest first (afterEach). */
export async function stopSources(): Promise<void> {
  for (const stop of [...running]) await stop();
}
