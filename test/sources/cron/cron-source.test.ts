// The cron source on a controllable clock: slots fire on time across DST changes, a restart never
// fires a slot twice, and missed slots are caught up (up to the cap) or skipped as configured.
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySourceState, sourceStateOf } from '../../../src/core/source-state.js';
import { CronSource, type CronSourceOptions } from '../../../src/sources/cron/cron-source.js';
import type { ScheduleEventData } from '../../../src/sources/cron/cron-source.js';
import { ManualClock } from '../../fixtures/manual-clock.js';
import { log, openLocalBus, startSource, stopSources, type LocalBus } from '../local-bus.js';

let local: LocalBus | undefined;
/** The stops of the sources started, newest last. */
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  stops.length = 0;
  await stopSources();
  await local?.close();
  local = undefined;
});

type Options = Partial<CronSourceOptions> & Pick<CronSourceOptions, 'schedule'>;

/** Starts a cron source on `clock`, publishing into the local bus with its durable state. */
async function startCron(bus: LocalBus, clock: ManualClock, options: Options): Promise<CronSource> {
  const source = new CronSource({
    name: 'tick',
    missed: 'skip',
    maxCatchup: 10,
    graceMs: 60_000,
    log,
    clock,
    node: 'test-node',
    ...options,
  });
  stops.push(await startSource(source, bus.publish, bus.stateOf(source.name)));
  return source;
}

/** Stops the most recently started source, as a daemon shutdown would. */
async function stopLast(): Promise<void> {
  await stops.pop()!();
}

/** Stops the most recently started source and starts it again at `at`: a daemon down until then. */
async function restartAt(
  bus: LocalBus,
  clock: ManualClock,
  at: string,
  options: Options,
): Promise<CronSource> {
  await stopLast();
  clock.jumpTo(at);
  return startCron(bus, clock, options);
}

/** One Europe/Berlin job per entry of `jobs` (name: schedule), run with the clock from `from` to `to`. */
async function runInBerlin(
  from: string,
  to: string,
  jobs: Record<string, string>,
): Promise<LocalBus> {
  // Kept in `local` for afterEach to close.
  const bus = (local = openLocalBus());
  const clock = new ManualClock(from);
  for (const [name, schedule] of Object.entries(jobs))
    await startCron(bus, clock, { name, schedule, timezone: 'Europe/Berlin' });
  await clock.advanceTo(to);
  return bus;
}

const slots = (bus: LocalBus, name = 'tick') =>
  bus.stored(`schedule.${name}`).map((event) => (event.data as ScheduleEventData).scheduledAt);

describe('cron source: time zones and DST', () => {
  it('fires a 02:30 Europe/Berlin job at 03:00 on the day the clocks spring forward, and on time around it', async () => {
    const berlin = await runInBerlin('2026-03-27T12:00:00Z', '2026-03-30T12:00:00Z', {
      nightly: '30 2 * * *',
      morning: '0 9 * * *',
    });

    expect(slots(berlin, 'nightly')).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist that night: 03:00 CEST, the first time after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
    expect(slots(berlin, 'morning')).toEqual([
      '2026-03-28T08:00:00.000Z', // 09:00 CET
      '2026-03-29T07:00:00.000Z', // 09:00 CEST
      '2026-03-30T07:00:00.000Z',
    ]);
    // The clock fired each at its slot: nothing early, nothing late.
    for (const event of berlin.stored('schedule.')) {
      const data = event.data as ScheduleEventData;
      expect(data.firedAt).toBe(data.scheduledAt);
      expect(data.catchup).toBe(false);
    }
  });

  it('fires a fixed-time job once when the clocks fall back, and an every-30-minutes job on both 02:30s', async () => {
    const berlin = await runInBerlin('2026-10-24T12:00:00Z', '2026-10-25T12:00:00Z', {
      nightly: '30 2 * * *',
      half: '*/30 2 * * *',
    });

    expect(slots(berlin, 'nightly')).toEqual(['2026-10-25T00:30:00.000Z']); // 02:30 CEST only
    expect(slots(berlin, 'half')).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET, the hour again
      '2026-10-25T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('takes six fields as seconds first', async () => {
    local = openLocalBus();
    const clock = new ManualClock('2026-01-01T10:00:00.500Z');
    await startCron(local, clock, { schedule: '*/15 * * * * *', timezone: 'UTC' });
    await clock.advanceTo('2026-01-01T10:01:00Z');
    expect(slots(local)).toEqual([
      '2026-01-01T10:00:15.000Z',
      '2026-01-01T10:00:30.000Z',
      '2026-01-01T10:00:45.000Z',
      '2026-01-01T10:01:00.000Z',
    ]);
  });
});

describe('cron source: events', () => {
  it('publishes schedule.<name> with the slot in its id, the shared dataschema and the payload', async () => {
    local = openLocalBus();
    const clock = new ManualClock('2026-05-04T06:59:00Z');
    await startCron(local, clock, {
      name: 'digest',
      schedule: '0 7 * * 1-5',
      timezone: 'UTC',
      payload: { channel: '#team' },
    });
    await clock.advanceTo('2026-05-04T07:00:02Z');
    const [event, ...rest] = local.stored('schedule.');
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      id: 'digest@2026-05-04T07:00:00.000Z',
      source: 'cron:digest',
      type: 'schedule.digest',
      time: '2026-05-04T07:00:00.000Z',
      dataschema: 'agentd:schedule/v1',
      partitionkey: 'digest',
      trust: 'operator',
      origin: 'test-node',
      data: {
        schedule: 'digest',
        cron: '0 7 * * 1-5',
        timezone: 'UTC',
        scheduledAt: '2026-05-04T07:00:00.000Z',
        firedAt: '2026-05-04T07:00:00.000Z',
        catchup: false,
        payload: { channel: '#team' },
      },
    });
  });
});

describe('cron source: restarts and missed slots', () => {
  it('does not fire a slot again after a restart', async () => {
    local = openLocalBus();
    const clock = new ManualClock('2026-01-01T09:59:30Z');
    await startCron(local, clock, { schedule: '* * * * *', timezone: 'UTC' });
    await clock.advanceTo('2026-01-01T10:00:05Z');
    expect(slots(local)).toEqual(['2026-01-01T10:00:00.000Z']);

    // Back 10 s later: the 10:00 slot is within the grace period, but it was already fired.
    await restartAt(local, clock, '2026-01-01T10:00:15Z', {
      schedule: '* * * * *',
      timezone: 'UTC',
    });
    await clock.advanceTo('2026-01-01T10:01:30Z');
    expect(slots(local)).toEqual(['2026-01-01T10:00:00.000Z', '2026-01-01T10:01:00.000Z']);
  });

  it('publishes a slot fired again after a crash before its cursor was stored as a duplicate, stored once', async () => {
    local = openLocalBus();
    const clock = new ManualClock('2026-01-01T09:59:30Z');
    // The first run's cursor lives in memory only: as if agentd died between publish and store.
    const forgetful = new MemorySourceState();
    const first = new CronSource({
      name: 'tick',
      schedule: '* * * * *',
      timezone: 'UTC',
      missed: 'skip',
      maxCatchup: 10,
      graceMs: 60_000,
      log,
      clock,
    });
    const controller = new AbortController();
    await first.start(local.publish, controller.signal, local.stateOf('tick'));
    const snapshot = await local.stateOf('tick').get('cursor');
    await forgetful.set('tick', 'cursor', snapshot!);
    await clock.advanceTo('2026-01-01T10:00:05Z');
    controller.abort();

    const results: boolean[] = [];
    const second = new CronSource({ ...first['options'], clock });
    const again = new AbortController();
    await second.start(
      async (events) => {
        const published = await local!.publish(events);
        results.push(...published.map((r) => r.duplicate));
        return published;
      },
      again.signal,
      sourceStateOf(forgetful, 'tick'),
    );
    again.abort();
    expect(results).toEqual([true]);
    expect(slots(local)).toEqual(['2026-01-01T10:00:00.000Z']);
  });

  it('catchup replays the newest missed slots up to maxCatchup, oldest first, then runs on time', async () => {
    local = openLocalBus();
    const clock = new ManualClock('2026-01-01T09:59:30Z');
    const options: Options = {
      schedule: '* * * * *',
      timezone: 'UTC',
      missed: 'catchup',
      maxCatchup: 10,
    };
    await startCron(local, clock, options);
    await clock.advanceTo('2026-01-01T10:00:30Z');

    // Down for half an hour: 30 slots passed (10:01 … 10:30).
    await restartAt(local, clock, '2026-01-01T10:30:30Z', options);
    const caughtUp = local.stored('schedule.tick').slice(1);
    expect(caughtUp.map((e) => (e.data as ScheduleEventData).scheduledAt)).toEqual(
      Array.from({ length: 10 }, (_, i) => `2026-01-01T10:${21 + i}:00.000Z`),
    );
    // All fired at restart; only 10:30 (30 s ago, within the grace period) counts as on time.
    expect(caughtUp.map((e) => (e.data as ScheduleEventData).firedAt)).toEqual(
      Array(10).fill('2026-01-01T10:30:30.000Z'),
    );
    expect(caughtUp.map((e) => (e.data as ScheduleEventData).catchup)).toEqual([
      ...Array<boolean>(9).fill(true),
      false,
    ]);

    await clock.advanceTo('2026-01-01T10:31:00Z');
    expect(slots(local).at(-1)).toBe('2026-01-01T10:31:00.000Z');
    expect(slots(local)).toHaveLength(12);
  });

  it('skip fires none of the missed slots, only one still within the grace period', async () => {
    local = openLocalBus();
    const clock = new ManualClock('2026-01-01T09:59:30Z');
    await startCron(local, clock, { schedule: '* * * * *', timezone: 'UTC' });
    await clock.advanceTo('2026-01-01T10:00:30Z');

    await restartAt(local, clock, '2026-01-01T10:30:30Z', {
      schedule: '* * * * *',
      timezone: 'UTC',
    });
    expect(slots(local)).toEqual(['2026-01-01T10:00:00.000Z', '2026-01-01T10:30:00.000Z']);

    // With no grace at all, a slot that passed while down is skipped even if just missed.
    await restartAt(local, clock, '2026-01-01T10:45:01Z', {
      schedule: '* * * * *',
      timezone: 'UTC',
      graceMs: 0,
    });
    await clock.advanceTo('2026-01-01T10:46:00Z');
    expect(slots(local).slice(2)).toEqual(['2026-01-01T10:46:00.000Z']);
  });

  it('a schedule that never fired before catches up on slots missed since its first start', async () => {
    local = openLocalBus();
    const clock = new ManualClock('2026-01-01T10:05:00Z');
    const options: Options = { schedule: '0 * * * *', timezone: 'UTC', missed: 'catchup' };
    await startCron(local, clock, options);
    expect(slots(local)).toEqual([]); // a new schedule does not replay history
    await restartAt(local, clock, '2026-01-01T12:10:00Z', options);
    expect(slots(local)).toEqual(['2026-01-01T11:00:00.000Z', '2026-01-01T12:00:00.000Z']);
  });
});
