// Runs one cron schedule on an injectable clock: fires each slot once, remembers the last handled
// slot durably (so a restart neither repeats nor forgets one), and applies the missed-slot policy
// to slots that passed while agentd was down. Shared by `cron` sources and scheduled `process` ones.
// Slots refused because a route's backlog is full are not queued one by one: they are held (durably,
// as a count) and published later as one coalesced slot, once there is room.
import { Cron } from 'croner';
import type { CancelTimer, Clock } from '../../core/clock.js';
import type { MissedPolicy } from '../../core/cron-source-config.js';
import type { SourceState } from '../../core/source-state.js';
import { isBacklogFull, type BacklogFullError } from '../../governor/backpressure-error.js';
import type { Logger } from '../../observe/log.js';

export interface ScheduleSlot {
  /** The slot's time: the schedule says it happens now. */
  scheduledAt: Date;
  /** When agentd fired it: later than scheduledAt by timer lag, or by downtime on catch-up. */
  firedAt: Date;
  /** True when it fired later than the grace period allows for on-time slots (catch-up). */
  catchup: boolean;
  /**
   * Set when slots were held back by a full backlog: this one slot (the newest of them) stands for
   * `count` slots, the earliest at `firstScheduledAt`.
   */
  coalesced?: { count: number; firstScheduledAt: Date };
}

export interface ScheduleRunnerOptions {
  /** For log lines. */
  name: string;
  schedule: string;
  timezone?: string | undefined;
  missed: MissedPolicy;
  maxCatchup: number;
  graceMs: number;
  clock: Clock;
  state: SourceState;
  log: Logger;
  /**
   * Does the slot's work. The slot counts as handled once this resolves; a throw retries later,
   * except BacklogFullError: the slot is then held, and coalesced with the next ones.
   */
  fire(slot: ScheduleSlot): Promise<void>;
}

/** What the state keeps under CURSOR_KEY. */
interface Cursor {
  /** Every slot up to here was fired or deliberately skipped. */
  through: string;
  lastScheduledAt?: string;
  lastFiredAt?: string;
  /** Slots passed over (`through` is past them) while the backlog was full, not yet published. */
  held?: HeldSlots;
}

interface HeldSlots {
  count: number;
  first: string;
  last: string;
}

const CURSOR_KEY = 'cursor';
/** After a failed fire (the bus unreachable), the next attempt comes this soon. */
const RETRY_MS = 5_000;

export class ScheduleRunner {
  private readonly cron: Cron;
  private cursor: Cursor = { through: new Date(0).toISOString() };
  private cancelTimer: CancelTimer | undefined;
  private stopping = false;
  private running: Promise<void> = Promise.resolve();
  /** When held slots are next offered: the Retry-After of the last refusal. */
  private retryHeldMs = RETRY_MS;

  constructor(private readonly options: ScheduleRunnerOptions) {
    // Paused, and never given a function: croner only computes slots here; the clock keeps time.
    this.cron = new Cron(options.schedule, {
      paused: true,
      ...(options.timezone === undefined ? {} : { timezone: options.timezone }),
    });
  }

  /**
   * Loads the cursor, fires what is due now (catch-up), then waits for the next slot. With
   * `waitForDue: false` it resolves once the cursor is loaded, and what is due fires meanwhile (a
   * scheduled command may run for an hour; the daemon's start should not wait for it).
   */
  async start(signal: AbortSignal, options: { waitForDue?: boolean } = {}): Promise<void> {
    const text = await this.options.state.get(CURSOR_KEY);
    const stored = parseCursor(text);
    if (text !== undefined && stored === undefined)
      this.options.log.warn(
        { source: this.options.name, cursor: text },
        `schedule ${this.options.name}: its stored cursor is unreadable; starting afresh from now`,
      );
    if (stored === undefined) {
      // A new schedule: nothing before now was ever due. Stored at once, so that slots missed
      // while agentd is down before the first one fires still count as missed.
      this.cursor = { through: new Date(this.options.clock.now()).toISOString() };
      await this.saveCursor();
    } else {
      this.cursor = stored;
    }
    if (signal.aborted) return;
    signal.addEventListener('abort', () => this.stop(), { once: true });
    const due = this.runTick();
    // A tick never rejects (it logs and retries), so not waiting for it loses no error.
    if (options.waitForDue !== false) await due;
  }

  /** Resolves once a slot being fired when the signal aborted has finished. */
  async stopped(): Promise<void> {
    await this.running;
  }

  /** The next slot after `after`, or undefined when the schedule has none left. */
  nextSlot(after: number): Date | undefined {
    return this.cron.nextRun(new Date(after)) ?? undefined;
  }

  private stop(): void {
    this.stopping = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private runTick(): Promise<void> {
    this.running = this.tick();
    return this.running;
  }

  private async tick(): Promise<void> {
    this.cancelTimer = undefined;
    if (this.stopping) return;
    let failed = false;
    try {
      await this.fireDue(this.options.clock.now());
    } catch (error) {
      failed = true;
      this.options.log.error(
        { source: this.options.name, err: error },
        `schedule ${this.options.name}: firing a slot failed; trying again in ${RETRY_MS} ms`,
      );
    }
    if (!this.stopping)
      this.arm(failed ? RETRY_MS : this.cursor.held === undefined ? undefined : this.retryHeldMs);
  }

  private async fireDue(now: number): Promise<void> {
    const { missed, maxCatchup, graceMs } = this.options;
    const through = Date.parse(this.cursor.through);
    // Newest first; croner walks backwards, so a long downtime costs only what is fired.
    const limit = missed === 'catchup' ? maxCatchup : 1;
    const newest = this.previousSlots(limit + 1, now).filter((slot) => slot > through);
    const due = newest.slice(0, limit).reverse();
    const late = (slot: number) => now - slot > graceMs;
    const toFire = missed === 'catchup' ? due : due.filter((slot) => !late(slot));
    const passedOver = newest.length > limit || toFire.length < due.length;
    if (passedOver) {
      const firstFired = toFire[0];
      this.options.log.warn(
        { source: this.options.name, missed, maxCatchup: missed === 'catchup' ? maxCatchup : 0 },
        `schedule ${this.options.name}: skipped slots that passed while agentd was not running (or was suspended)` +
          (firstFired === undefined ? '' : ` (before ${new Date(firstFired).toISOString()})`),
      );
    }
    let refused = false;
    for (const slot of toFire) {
      if (this.stopping) return;
      // Behind held slots, a slot joins them: they are published together, in one event.
      if (this.cursor.held !== undefined) {
        await this.hold(slot);
        continue;
      }
      const firedAt = new Date(this.options.clock.now());
      try {
        await this.options.fire({ scheduledAt: new Date(slot), firedAt, catchup: late(slot) });
      } catch (error) {
        if (!isBacklogFull(error)) throw error;
        refused = true;
        this.refused(error);
        await this.hold(slot);
        continue;
      }
      this.cursor = {
        through: new Date(slot).toISOString(),
        lastScheduledAt: new Date(slot).toISOString(),
        lastFiredAt: firedAt.toISOString(),
      };
      await this.saveCursor();
    }
    const newestDue = due.at(-1);
    if (newestDue !== undefined && newestDue > Date.parse(this.cursor.through)) {
      // Skipped slots are handled too: the cursor moves past them so they are never fired later.
      this.cursor = { ...this.cursor, through: new Date(newestDue).toISOString() };
      await this.saveCursor();
    }
    // Offered again only on a later tick than the one refused: the backlog has not moved yet.
    if (!refused && !this.stopping) await this.fireHeld(now);
  }

  /** Adds a slot to the held ones; the cursor moves past it, so it is never fired on its own. */
  private async hold(slot: number): Promise<void> {
    const at = new Date(slot).toISOString();
    const held = this.cursor.held;
    this.cursor = {
      ...this.cursor,
      through: at,
      held: { count: (held?.count ?? 0) + 1, first: held?.first ?? at, last: at },
    };
    await this.saveCursor();
    // The first held slot is worth a warning; the count of the rest is in the line that publishes.
    this.options.log[held === undefined ? 'warn' : 'debug'](
      { source: this.options.name, scheduledAt: at, held: this.cursor.held },
      `schedule ${this.options.name}: the slot at ${at} is held back while the route backlog is full; ` +
        'held slots are published as one event when there is room',
    );
  }

  /** Publishes the held slots as one: the newest, with how many it stands for. */
  private async fireHeld(now: number): Promise<void> {
    const held = this.cursor.held;
    if (held === undefined) return;
    const scheduledAt = new Date(held.last);
    const firedAt = new Date(this.options.clock.now());
    try {
      await this.options.fire({
        scheduledAt,
        firedAt,
        catchup: now - scheduledAt.getTime() > this.options.graceMs,
        coalesced: { count: held.count, firstScheduledAt: new Date(held.first) },
      });
    } catch (error) {
      if (!isBacklogFull(error)) throw error;
      this.refused(error);
      return;
    }
    this.cursor = {
      through: this.cursor.through,
      lastScheduledAt: held.last,
      lastFiredAt: firedAt.toISOString(),
    };
    await this.saveCursor();
    this.options.log.info(
      { source: this.options.name, coalesced: held.count, from: held.first, to: held.last },
      `schedule ${this.options.name}: published ${held.count} held slots as one event`,
    );
  }

  private refused(error: BacklogFullError): void {
    this.retryHeldMs = error.retryAfterMs ?? RETRY_MS;
    this.options.log.debug(
      { source: this.options.name, routes: error.routes, retryInMs: this.retryHeldMs },
      `schedule ${this.options.name}: refused, the route backlog is full`,
    );
  }

  /** Up to `n` slots at or before `now`, newest first. */
  private previousSlots(n: number, now: number): number[] {
    // previousRuns is strictly before its reference; +1 ms takes in a slot at exactly `now`.
    return this.cron.previousRuns(n, new Date(now + 1)).map((date) => date.getTime());
  }

  /** Waits for the next slot, or `retryMs` when that comes first (after a failure, held slots). */
  private arm(retryMs: number | undefined): void {
    const now = this.options.clock.now();
    // Never before the cursor: a wall clock set back must not fire a handled slot again.
    const next = this.nextSlot(Math.max(now, Date.parse(this.cursor.through)));
    if (next === undefined && retryMs === undefined) {
      this.options.log.info(
        { source: this.options.name },
        `schedule ${this.options.name} has no further slots`,
      );
      return;
    }
    const delay = Math.min(
      next === undefined ? Infinity : next.getTime() - now,
      retryMs ?? Infinity,
    );
    this.cancelTimer = this.options.clock.setTimer(() => this.runTick(), Math.max(1, delay));
  }

  private async saveCursor(): Promise<void> {
    await this.options.state.set(CURSOR_KEY, JSON.stringify(this.cursor));
  }
}

function parseCursor(text: string | undefined): Cursor | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<Cursor>;
    if (typeof value.through === 'string' && !Number.isNaN(Date.parse(value.through)))
      return value as Cursor;
  } catch {
    // Not JSON: reported by the caller, like any other unreadable cursor.
  }
  return undefined;
}
