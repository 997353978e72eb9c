// A cron schedule behind the backlog gate, on a controllable clock: slots refused while its route
// is full are held (not queued one by one) and published as one event saying how many slots it
// stands for once there is room; held slots survive a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SUBSCRIPTION, type Subscription } from '../../src/bus/bus.js';
import { BacklogGate } from '../../src/governor/backpressure.js';
import { CronSource, type ScheduleEventData } from '../../src/sources/cron/cron-source.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { uncachedBacklogs } from '../governor/backpressure-view.js';
import { log, openLocalBus, startSource, stopSources, type LocalBus } from './local-bus.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await stopSources();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A local bus with a route `digest` on schedule.tick that may hold one unfinished delivery. */
async function setup(): Promise<{ bus: LocalBus; clock: ManualClock; digest: Subscription }> {
  const bus = openLocalBus();
  cleanups.push(() => bus.close());
  const digest = await bus.bus.subscribe('digest', {
    ...DEFAULT_SUBSCRIPTION,
    types: ['schedule.tick'],
  });
  return { bus, clock: new ManualClock('2026-05-01T10:00:30Z'), digest };
}

/** Starts the schedule `tick` behind the gate; returns its stop. */
async function startTick(bus: LocalBus, clock: ManualClock): Promise<() => Promise<void>> {
  const gate = new BacklogGate({
    bus: uncachedBacklogs(bus.bus),
    limits: new Map([['digest', 1]]),
    clock,
  });
  const source = new CronSource({
    name: 'tick',
    schedule: '* * * * *',
    missed: 'skip',
    maxCatchup: 10,
    graceMs: 60_000,
    log,
    clock,
  });
  return startSource(source, gate.guard(bus.publish), bus.stateOf('tick'));
}

const ticks = (bus: LocalBus) =>
  bus.stored('schedule.tick').map((event) => event.data as ScheduleEventData);

async function finishAll(digest: Subscription): Promise<void> {
  for (const delivery of await digest.pull({ max: 10, waitMs: 0 })) await delivery.ack();
}

describe('cron source under backpressure', () => {
  it('holds the slots refused while its route is full and publishes them as one event when there is room', async () => {
    const { bus, clock, digest } = await setup();
    await startTick(bus, clock);
    await clock.advanceTo('2026-05-01T10:01:00Z');
    expect(ticks(bus)).toHaveLength(1);

    // The 10:01 run never finishes for four minutes: 10:02 .. 10:05 are held, none published.
    await clock.advanceTo('2026-05-01T10:05:30Z');
    expect(ticks(bus)).toHaveLength(1);

    // The route drained nothing, so Retry-After is 60 s: the held slots are offered again with
    // the next slot, which joins them.
    await finishAll(digest);
    await clock.advanceTo('2026-05-01T10:06:00Z');
    const published = ticks(bus);
    expect(published).toHaveLength(2);
    expect(published[1]).toMatchObject({
      scheduledAt: '2026-05-01T10:06:00.000Z',
      coalesced: 5,
      coalescedFrom: '2026-05-01T10:02:00.000Z',
    });
    expect(bus.stored('schedule.tick')[1]!.id).toBe('tick@2026-05-01T10:06:00.000Z');

    // With room again, slots go out one by one, as plain events.
    await finishAll(digest);
    await clock.advanceTo('2026-05-01T10:07:30Z');
    expect(ticks(bus)).toHaveLength(3);
    expect(ticks(bus)[2]!.scheduledAt).toBe('2026-05-01T10:07:00.000Z');
    expect(ticks(bus)[2]!.coalesced).toBeUndefined();
  });

  it('keeps held slots across a restart and counts them in the event published after it', async () => {
    const { bus, clock, digest } = await setup();
    const stopFirst = await startTick(bus, clock);
    await clock.advanceTo('2026-05-01T10:03:30Z'); // 10:01 stored, 10:02 and 10:03 held
    await stopFirst();

    await startTick(bus, clock);
    await clock.advanceTo('2026-05-01T10:04:30Z'); // 10:04 joins them
    expect(ticks(bus)).toHaveLength(1);
    await finishAll(digest);
    await clock.advanceTo('2026-05-01T10:05:00Z'); // and 10:05, offered with them
    expect(ticks(bus)).toHaveLength(2);
    expect(ticks(bus)[1]).toMatchObject({
      scheduledAt: '2026-05-01T10:05:00.000Z',
      coalesced: 4,
      coalescedFrom: '2026-05-01T10:02:00.000Z',
    });
  });
});
