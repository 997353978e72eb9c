// The backlog view tests on a controllable clock give the gate: the real SqliteBus, read without
// its own 250 ms (wall-clock) cache, so a read after the test clock moves sees what is stored now.
import type { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import type { BacklogView } from '../../src/governor/backpressure.js';

export function uncachedBacklogs(bus: SqliteBus): BacklogView {
  return {
    backlogs: async () => bus.countBacklogs(),
    subscribersOf: (type) => bus.subscribersOf(type),
  };
}
