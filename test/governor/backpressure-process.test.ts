// A supervised process behind the backlog gate, with real child processes and time on a
// controllable clock: an exit refused while its route is full waits for room (the restart waits
// with it) instead of being lost, and is stored once the route drained.
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessSource, type ProcessExitedData } from '../../src/sources/process/process-source.js';
import { openLocalBus, startSource, stopSources, type LocalBus } from '../sources/local-bus.js';
import { gatedRoute } from './backpressure-view.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await stopSources();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(what: string, done: () => boolean, tick?: () => Promise<void>) {
  const deadline = Date.now() + 15_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await tick?.();
  }
}

describe('process source under backpressure', () => {
  it('holds an exit refused by a full route, and the restart with it, until there is room', async () => {
    const local: LocalBus = openLocalBus();
    cleanups.push(() => local.close());
    const { route, gate, clock, lines, log } = await gatedRoute(
      local.bus,
      'on-exit',
      ['process.exited'],
      'warn',
    );
    const source = new ProcessSource({
      name: 'crasher',
      command: [process.execPath, '-e', 'process.exit(3)'],
      cwd: process.cwd(),
      restart: 'always',
      backoff: { initialMs: 100, maxMs: 100 },
      tailLines: 5,
      stopGraceMs: 2_000,
      trust: 'operator',
      clock,
      log,
    });
    await startSource(source, gate.guard(local.publish), local.stateOf('crasher'));
    const exits = () => local.stored('process.exited').map((e) => e.data as ProcessExitedData);

    await until('the first exit', () => exits().length === 1);
    // The restart after 100 ms; its exit is refused: it waits, and no third run starts.
    await clock.advanceBy(100);
    await until('the second exit to wait', () =>
      lines.some((l) => String(l.msg).startsWith('process.exited waits for room')),
    );
    await clock.advanceBy(3_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(exits()).toHaveLength(1);
    expect(source['current']).toBeUndefined();

    for (const delivery of await route.pull({ max: 1, waitMs: 0 })) await delivery.ack();
    await until(
      'the held exit to be stored',
      () => exits().length === 2,
      () => clock.advanceBy(1_000),
    );
    expect(exits()[1]).toMatchObject({ process: 'crasher', exitCode: 3, restarts: 1 });
    expect(lines.filter((l) => l.level === 50)).toEqual([]);
  });
});
