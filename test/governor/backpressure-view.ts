// What the backpressure tests of sources share: the real SqliteBus's backlogs read without its own
// 250 ms (wall-clock) cache, so a read after the test clock moves sees what is stored now; and a
// route that may hold few unfinished deliveries, behind a gate on a manual clock, with the log
// lines a source writes kept for the test to read.
import { Writable } from 'node:stream';
import { DEFAULT_SUBSCRIPTION, type Subscription } from '../../src/bus/bus.js';
import type { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { BacklogGate, type BacklogView } from '../../src/governor/backpressure.js';
import { createLogger, type Logger } from '../../src/observe/log.js';
import { ManualClock } from '../fixtures/manual-clock.js';

export function uncachedBacklogs(bus: SqliteBus): BacklogView {
  return {
    backlogs: async () => bus.countBacklogs(),
    subscribersOf: (type) => bus.subscribersOf(type),
  };
}

export interface GatedRoute {
  route: Subscription;
  gate: BacklogGate;
  clock: ManualClock;
  /** A logger at `level` whose JSON lines land in `lines`. */
  log: Logger;
  lines: Array<Record<string, unknown>>;
}

/** A logger at `level` whose JSON lines land in `lines`. */
export function capturedLog(level: 'debug' | 'warn'): {
  log: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level, destination: sink, pretty: false }) };
}

/** Subscribes route `name` to `types` with room for `limit` unfinished deliveries. */
export async function gatedRoute(
  bus: SqliteBus,
  name: string,
  types: string[],
  level: 'debug' | 'warn',
  limit = 1,
): Promise<GatedRoute> {
  const route = await bus.subscribe(name, { ...DEFAULT_SUBSCRIPTION, types });
  const clock = new ManualClock('2026-05-01T10:00:00Z');
  const gate = new BacklogGate({
    bus: uncachedBacklogs(bus),
    limits: new Map([[name, limit]]),
    clock,
  });
  return { route, gate, clock, ...capturedLog(level) };
}
