// Opens SqliteBus instances on throwaway files for the SQLite-only governor tests, each driven by a
// manual clock, and closes and deletes them after each test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { SqliteInspector, type RunRecord } from '../../src/bus/sqlite/inspect-sql.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { ManualClock } from '../fixtures/manual-clock.js';

export const T0 = Date.parse('2030-01-01T00:00:00Z');

const dirs: string[] = [];
const buses: SqliteBus[] = [];

afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export interface Store {
  path: string;
  clock: ManualClock;
  /** A bus on the store; several may be open at once, as several processes would be. */
  open(): SqliteBus;
}

export function store(clock = new ManualClock(T0)): Store {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-governor-'));
  dirs.push(dir);
  const path = join(dir, 'agentd.db');
  return {
    path,
    clock,
    open() {
      const bus = new SqliteBus({ path, clock, sweepIntervalMs: 100, retentionMs: 0 });
      buses.push(bus);
      return bus;
    },
  };
}

/** The subscription's runs, oldest first. */
export function runsOf(bus: SqliteBus, route: string): RunRecord[] {
  return new SqliteInspector(bus.db).runs({ route, limit: 1_000 }).reverse();
}

/** Resolves once `check` holds, polling; fails after `timeoutMs` (generous: machines are shared). */
export async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
