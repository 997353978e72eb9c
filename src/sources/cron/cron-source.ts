// The `cron` source: publishes `schedule.<name>` at each slot of a cron expression. The event id is
// the schedule's name and the slot's time, so a slot published twice is dropped as a duplicate.
import { systemClock, type Clock } from '../../core/clock.js';
import type { MissedPolicy } from '../../core/cron-source-config.js';
import { toEvent, type AgentdEvent } from '../../core/envelope.js';
import { MemorySourceState, sourceStateOf, type SourceState } from '../../core/source-state.js';
import type { Logger } from '../../observe/log.js';
import type { Publish, Source } from '../source.js';
import { ScheduleRunner, type ScheduleSlot } from './schedule-runner.js';

/** Every schedule's events share one data shape, whatever their type. */
export const SCHEDULE_DATASCHEMA = 'agentd:schedule/v1';

export interface CronSourceOptions {
  name: string;
  schedule: string;
  timezone?: string | undefined;
  missed: MissedPolicy;
  maxCatchup: number;
  graceMs: number;
  payload?: Record<string, unknown> | undefined;
  clock?: Clock;
  log: Logger;
  node?: string;
}

/** `data` of `schedule.<name>` events (agentd:schedule/v1). */
export interface ScheduleEventData {
  schedule: string;
  cron: string;
  timezone: string | null;
  scheduledAt: string;
  firedAt: string;
  catchup: boolean;
  payload?: Record<string, unknown>;
  /**
   * Set when slots were held back because a route's backlog was full: how many slots this event
   * stands for (its own, the newest, included). Absent on an event for its slot alone.
   */
  coalesced?: number;
  /** With `coalesced`: the earliest slot it stands for. */
  coalescedFrom?: string;
}

export class CronSource implements Source {
  readonly kind = 'cron';
  readonly name: string;
  private runner: ScheduleRunner | undefined;

  constructor(private readonly options: CronSourceOptions) {
    this.name = options.name;
  }

  async start(publish: Publish, signal: AbortSignal, state?: SourceState): Promise<void> {
    const { options } = this;
    this.runner = new ScheduleRunner({
      name: this.name,
      schedule: options.schedule,
      timezone: options.timezone,
      missed: options.missed,
      maxCatchup: options.maxCatchup,
      graceMs: options.graceMs,
      clock: options.clock ?? systemClock,
      state: state ?? sourceStateOf(new MemorySourceState(), this.name),
      log: options.log,
      fire: async (slot) => {
        await publish([this.event(slot)]);
      },
    });
    await this.runner.start(signal);
    const next = this.runner.nextSlot((options.clock ?? systemClock).now());
    options.log.info(
      { source: this.name, schedule: options.schedule, next: next?.toISOString() },
      `schedule ${this.name} started`,
    );
  }

  async stopped(): Promise<void> {
    await this.runner?.stopped();
  }

  private event(slot: ScheduleSlot): AgentdEvent {
    const { options } = this;
    const source = `cron:${this.name}`;
    const scheduledAt = slot.scheduledAt.toISOString();
    const data: ScheduleEventData = {
      schedule: this.name,
      cron: options.schedule,
      timezone: options.timezone ?? null,
      scheduledAt,
      firedAt: slot.firedAt.toISOString(),
      catchup: slot.catchup,
      ...(options.payload === undefined ? {} : { payload: options.payload }),
      ...(slot.coalesced === undefined
        ? {}
        : {
            coalesced: slot.coalesced.count,
            coalescedFrom: slot.coalesced.firstScheduledAt.toISOString(),
          }),
    };
    return toEvent(
      {
        id: `${this.name}@${scheduledAt}`,
        type: `schedule.${this.name}`,
        time: scheduledAt,
        dataschema: SCHEDULE_DATASCHEMA,
        datacontenttype: 'application/json',
        // One key per schedule: its runs never overlap, and catch-up runs go in slot order.
        partitionkey: this.name,
        data,
      },
      {
        source,
        trust: 'operator',
        ...(options.node === undefined ? {} : { origin: options.node }),
      },
    );
  }
}
