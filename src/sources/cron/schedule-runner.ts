// Runs one cron schedule on an injectable clock: fires each slot once, remembers the last handled
// slot durably (so a restart neither repeats nor forgets one), and applies the missed-slot policy
// to slots that passed while agentd was down. Shared by `cron` sources and scheduled `process` ones.
import { Cron } from 'croner';
import type { CancelTimer, Clock } from '../../core/clock.js';
import type { MissedPolicy } from '../../core/cron-source-config.js';
import type { SourceState } from '../../core/source-state.js';
import type { Logger } from '../../observe/log.js';

export interface ScheduleSlot {
  /** The slot's time: the schedule says it happens now. */
  scheduledAt: Date;
  /** When agentd fired it: later than scheduledAt by timer lag, or by downtime on catch-up. */
  firedAt: Date;
  /** True when it fired later than the grace period allows for on-time slots (catch-up). */
  catchup: boolean;
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
  /** Does the slot's work. The slot counts as handled once this resolves; a throw retries later. */
  fire(slot: ScheduleSlot): Promise<void>;
}

/** What the state keeps under CURSOR_KEY. */
interface Cursor {
  /** Every slot up to here was fired or deliberately skipped. */
  through: string;
  lastScheduledAt?: string;
  lastFiredAt?: string;
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
    if (!this.stopping) this.arm(failed);
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
    for (const slot of toFire) {
      if (this.stopping) return;
      const firedAt = new Date(this.options.clock.now());
      await this.options.fire({ scheduledAt: new Date(slot), firedAt, catchup: late(slot) });
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
  }

  /** Up to `n` slots at or before `now`, newest first. */
  private previousSlots(n: number, now: number): number[] {
    // previousRuns is strictly before its reference; +1 ms takes in a slot at exactly `now`.
    return this.cron.previousRuns(n, new Date(now + 1)).map((date) => date.getTime());
  }

  private arm(afterFailure: boolean): void {
    const now = this.options.clock.now();
    // Never before the cursor: a wall clock set back must not fire a handled slot again.
    const next = this.nextSlot(Math.max(now, Date.parse(this.cursor.through)));
    if (next === undefined) {
      this.options.log.info(
        { source: this.options.name },
        `schedule ${this.options.name} has no further slots`,
      );
      return;
    }
    let delay = next.getTime() - now;
    if (afterFailure) delay = Math.min(delay, RETRY_MS);
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
