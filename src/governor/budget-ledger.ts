// One budget (a route's, or the global one) over its current window: what was used (durable, in
// the GovernorStore), what runs in flight have reserved (in memory), and the thresholds announced.
// Admission counts used + reserved, so many runs started together cannot overshoot the limit by
// more than one run's worth.
import type { Clock } from '../core/clock.js';
import type { Budget } from '../core/route.js';
import { windowEnd, windowStart } from './budget-window.js';
import {
  markKey,
  NO_USAGE,
  roundUsd,
  type BudgetUnit,
  type GovernorStore,
  type ThresholdMark,
  type UsageAmount,
  type WindowRef,
} from './governor-store.js';

export const DEFAULT_THRESHOLDS: readonly number[] = [0.5, 0.8, 1];

export interface ThresholdCrossing extends ThresholdMark {
  used: number;
  limit: number;
}

export interface BudgetAmountStatus {
  limit: number;
  used: number;
  reserved: number;
  left: number;
}

export interface BudgetStatus {
  scope: string;
  window: Budget['window'];
  windowStart: string;
  resetsAt: string;
  tokens?: BudgetAmountStatus;
  costUsd?: BudgetAmountStatus;
  /** The limit is reached: the scope is paused until the window rolls over (or a lift). */
  spent: boolean;
  /** `agentd resume` lifted the pause until then (ISO 8601). */
  liftedUntil?: string;
}

export class BudgetLedger {
  private ref: WindowRef;
  private refEnd: number;
  private readonly limitList: readonly [BudgetUnit, number][];
  /** Usage of runs settling in the same tick, summed into one store write. */
  private booking:
    { ref: WindowRef; amount: UsageAmount; totals: Promise<UsageAmount> } | undefined;
  private used: UsageAmount = NO_USAGE;
  private reserved: UsageAmount = NO_USAGE;
  private reservations = 0;
  private readonly marked = new Set<string>();
  private readonly thresholds: readonly number[];
  private liftedUntil = 0;

  constructor(
    readonly scope: string,
    readonly budget: Budget,
    private readonly store: GovernorStore,
    private readonly clock: Clock,
  ) {
    this.thresholds = [...new Set(budget.thresholds ?? DEFAULT_THRESHOLDS)].sort((a, b) => a - b);
    this.ref = this.refAt(clock.now());
    this.refEnd = windowEnd(budget.window, this.ref.start);
    const limits: [BudgetUnit, number][] = [];
    if (budget.tokens !== undefined) limits.push(['tokens', budget.tokens]);
    if (budget.costUsd !== undefined) limits.push(['usd', budget.costUsd]);
    this.limitList = limits;
  }

  /**
   * Reads the current window's usage and announced thresholds: at start, and again on the
   * governor's refresh, which picks up what other workers used.
   */
  async load(): Promise<void> {
    const ref = this.current();
    const [used, marks] = await Promise.all([
      this.store.usage(ref),
      this.store.thresholdMarks(ref),
    ]);
    if (ref.start !== this.ref.start) return;
    this.used = maxOf(this.used, used);
    for (const mark of marks) this.marked.add(markKey(mark));
  }

  /** Set from the store's lifts: until then the spent budget does not pause. */
  liftUntil(until: number): void {
    this.liftedUntil = until;
  }

  /** The limit is reached in this window and no operator lifted the pause. */
  spent(): boolean {
    this.current();
    if (this.liftedUntil > this.clock.now()) return false;
    return this.limits().some(([unit, limit]) => this.usedOf(unit) >= limit);
  }

  /** Runs reserving `reservation` each that fit now; Infinity when none of its limits binds. */
  room(reservation: UsageAmount): number {
    this.current();
    if (this.liftedUntil > this.clock.now()) return Number.POSITIVE_INFINITY;
    let room = Number.POSITIVE_INFINITY;
    for (const [unit, limit] of this.limits()) {
      const used = this.usedOf(unit);
      if (used >= limit) return 0;
      const each = amountOf(reservation, unit);
      if (each <= 0) continue;
      const fit = Math.floor((limit - used - amountOf(this.reserved, unit)) / each);
      // With nothing in flight one run may always start: a reservation larger than what is left
      // must not hold the route back until the window rolls over.
      room = Math.min(room, this.reservations === 0 ? Math.max(1, fit) : Math.max(0, fit));
    }
    return room;
  }

  reserve(amount: UsageAmount): void {
    this.reservations++;
    this.reserved = add(this.reserved, amount);
  }

  /** Gives a reservation back unused (the run did not start, or spent nothing we know of). */
  release(amount: UsageAmount): void {
    this.reservations = Math.max(0, this.reservations - 1);
    this.reserved = maxOf(NO_USAGE, add(this.reserved, scale(amount, -1)));
  }

  /**
   * Settles a run: its reservation goes, what it really used is added durably. Returns the
   * thresholds it crossed that were not yet announced in this window (now marked in memory; the
   * caller announces them and then marks them in the store).
   */
  async record(reservation: UsageAmount, actual: UsageAmount): Promise<ThresholdCrossing[]> {
    if (actual.tokens <= 0 && actual.costUsd <= 0) {
      this.release(reservation);
      return [];
    }
    const ref = this.current();
    let totals: UsageAmount;
    try {
      totals = await this.book(ref, actual);
    } finally {
      // Given back only once the usage is booked: while the write is under way the reservation
      // stands in for it, so a claim in between cannot find the budget free again.
      this.release(reservation);
    }
    if (ref.start !== this.ref.start) return [];
    // Totals of concurrent runs may resolve out of order; usage in a window only grows.
    this.used = maxOf(this.used, totals);
    return this.crossings(ref);
  }

  /** When the current window ends (ms since the epoch). */
  resetsAt(): number {
    this.current();
    return this.refEnd;
  }

  status(): BudgetStatus {
    const ref = this.current();
    const amount = (unit: BudgetUnit, limit: number): BudgetAmountStatus => ({
      limit,
      used: this.usedOf(unit),
      reserved: amountOf(this.reserved, unit),
      left: Math.max(0, limit - this.usedOf(unit)),
    });
    const status: BudgetStatus = {
      scope: this.scope,
      window: this.budget.window,
      windowStart: new Date(ref.start).toISOString(),
      resetsAt: new Date(this.resetsAt()).toISOString(),
      spent: this.spent(),
    };
    if (this.budget.tokens !== undefined) status.tokens = amount('tokens', this.budget.tokens);
    if (this.budget.costUsd !== undefined) status.costUsd = amount('usd', this.budget.costUsd);
    if (this.liftedUntil > this.clock.now())
      status.liftedUntil = new Date(this.liftedUntil).toISOString();
    return status;
  }

  /** Why the scope is paused, for logs, `agentd status` and agentd.route.paused. */
  describeSpent(): string {
    const over = this.limits().find(([unit, limit]) => this.usedOf(unit) >= limit);
    const what =
      over === undefined
        ? ''
        : over[0] === 'tokens'
          ? `: ${this.usedOf('tokens')} of ${over[1]} tokens`
          : `: $${this.usedOf('usd')} of $${over[1]}`;
    const scope = this.scope === 'global' ? 'the global budget' : `budget of route ${this.scope}`;
    return `${scope} spent${what} this ${this.budget.window} (resets ${new Date(this.resetsAt()).toISOString()})`;
  }

  private crossings(ref: WindowRef): ThresholdCrossing[] {
    const crossed: ThresholdCrossing[] = [];
    for (const [unit, limit] of this.limits()) {
      const used = this.usedOf(unit);
      for (const fraction of this.thresholds) {
        if (used < fraction * limit) break;
        const mark: ThresholdMark = { ...ref, unit, fraction };
        const key = markKey(mark);
        if (this.marked.has(key)) continue;
        this.marked.add(key);
        crossed.push({ ...mark, used, limit });
      }
    }
    return crossed;
  }

  /**
   * The current window; rolling into a new one starts it from zero (what other workers used in
   * it arrives with the next settle's totals or the governor's next refresh).
   */
  private current(): WindowRef {
    const now = this.clock.now();
    if (now < this.refEnd && now >= this.ref.start) return this.ref;
    this.ref = this.refAt(now);
    this.refEnd = windowEnd(this.budget.window, this.ref.start);
    this.used = NO_USAGE;
    this.marked.clear();
    return this.ref;
  }

  /**
   * Adds usage to the store; runs booking in the same tick share one write (and its totals), so a
   * busy route costs one upsert per tick rather than one per run.
   */
  private book(ref: WindowRef, actual: UsageAmount): Promise<UsageAmount> {
    const open = this.booking;
    if (open !== undefined && open.ref === ref) {
      open.amount = add(open.amount, actual);
      return open.totals;
    }
    const booking = { ref, amount: actual, totals: Promise.resolve(NO_USAGE) };
    booking.totals = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      // Closed before the write: later runs start the next booking.
      if (this.booking === booking) this.booking = undefined;
      return this.store.addUsage(ref, booking.amount, this.clock.now());
    });
    this.booking = booking;
    return booking.totals;
  }

  private refAt(now: number): WindowRef {
    return {
      scope: this.scope,
      window: this.budget.window,
      start: windowStart(this.budget.window, now),
    };
  }

  private limits(): readonly [BudgetUnit, number][] {
    return this.limitList;
  }

  private usedOf(unit: BudgetUnit): number {
    return amountOf(this.used, unit);
  }
}

function amountOf(amount: UsageAmount, unit: BudgetUnit): number {
  return unit === 'tokens' ? amount.tokens : amount.costUsd;
}

function add(a: UsageAmount, b: UsageAmount): UsageAmount {
  return { tokens: a.tokens + b.tokens, costUsd: roundUsd(a.costUsd + b.costUsd) };
}

function scale(a: UsageAmount, by: number): UsageAmount {
  return { tokens: a.tokens * by, costUsd: a.costUsd * by };
}

function maxOf(a: UsageAmount, b: UsageAmount): UsageAmount {
  return { tokens: Math.max(a.tokens, b.tokens), costUsd: Math.max(a.costUsd, b.costUsd) };
}
