// One route's admission: before a claim, how many runs it may start (pauses, route-wide rate
// limits, budgets); after the claim, per delivery, whether it runs now (per-key rate limit, loop
// guard); after the run, what it cost. Nothing here drops a delivery: "not now" is a wait before
// the claim or a defer after it, and only the loop guard ends one (in the dead-letter queue).
import type { Delivery } from '../bus/bus.js';
import type { ResolvedRoute } from '../core/config.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { BudgetLedger } from './budget-ledger.js';
import { hearsAnnouncementsOnly } from './governor-events.js';
import { NO_USAGE, type UsageAmount } from './governor-store.js';
import type { PauseStatus, RouteGovernorStatus } from './governor-status.js';
import type { RouteRateLimiter } from './route-rate-limit.js';
import { RunRate, UsageHistory, usageAmountOf } from './run-usage.js';

/** What the Governor lends each route's gate. */
export interface GateHost {
  now(): number;
  /** Why `route` is paused (an operator, or its own or the global budget spent), if it is. */
  pausedBecause(route: string): PauseStatus | undefined;
  readonly globalBudget: BudgetLedger | undefined;
  checkLoop(route: string, event: AgentdEvent, attempt: number): Promise<string | undefined>;
  /** Books a run's real usage on its budgets and announces thresholds crossed; never throws. */
  recordUsage(gate: RouteGate, ticket: RunTicket, actual: UsageAmount): Promise<void>;
}

export type Admission =
  | { kind: 'run' }
  | { kind: 'defer'; delayMs: number; reason: string }
  | { kind: 'stop'; reason: string };

export interface RoomVerdict {
  /** Runs that may be claimed now: 0 when paused or limited, Infinity when nothing binds. */
  room: number;
  paused?: PauseStatus;
  /** With room 0 and no pause: when a rate-limit token is back. */
  retryInMs?: number;
}

/** A claimed run's budget reservations, given back exactly once (settle or release). */
export class RunTicket {
  open = true;

  constructor(
    readonly route: UsageAmount,
    readonly global: UsageAmount,
  ) {}
}

const NO_TICKET = new RunTicket(NO_USAGE, NO_USAGE);

export class RouteGate {
  readonly name: string;
  readonly priority: number;
  private readonly rate: RouteRateLimiter;
  private readonly history = new UsageHistory();
  private readonly runRate: RunRate;
  /**
   * False for a route that only hears governor announcements (how operators learn the budget is
   * spent): the global budget neither pauses nor limits it. Its usage is still booked on it.
   */
  readonly heedsGlobalBudget: boolean;
  /** The route names its key: an event without that path has no key (not the partitionkey). */
  private readonly keyed: boolean;

  constructor(
    route: ResolvedRoute,
    private readonly host: GateHost,
    readonly budget: BudgetLedger | undefined,
    rate: RouteRateLimiter,
  ) {
    this.name = route.name;
    this.priority = route.priority ?? 0;
    this.rate = rate;
    this.heedsGlobalBudget = !hearsAnnouncementsOnly(route.types);
    this.runRate = new RunRate(() => host.now());
    this.keyed = [route.key, route.singleton?.key, route.debounce?.key, route.batch?.key].some(
      (key) => key !== undefined,
    );
  }

  /** Before a claim: how many runs may start now, or why none may. */
  room(): RoomVerdict {
    const paused = this.host.pausedBecause(this.name);
    if (paused !== undefined) return { room: 0, paused };
    const tokens = this.rate.available();
    if (tokens <= 0) return { room: 0, retryInMs: Math.max(1, this.rate.msUntilAvailable()) };
    let room = tokens;
    const estimate = this.history.mean();
    if (this.budget !== undefined)
      room = Math.min(room, this.budget.room(this.reserveOf(this.budget, estimate)));
    const global = this.host.globalBudget;
    if (global !== undefined && this.heedsGlobalBudget)
      room = Math.min(room, global.room(this.reserveOf(global, estimate)));
    // Budgets with runs in flight: a settle frees room and wakes the claim loop.
    return { room };
  }

  /**
   * Before the pull: takes up to `want` route-wide rate-limit tokens, how many it got. With none,
   * room() says when to look again.
   */
  takeTokens(want: number): number | Promise<number> {
    return this.rate.takeUpTo(want);
  }

  /** After the pull: the tokens of runs that were not claimed, or not started, go back. */
  giveBackTokens(n: number): void | Promise<void> {
    if (n > 0) return this.rate.giveBack(n);
  }

  /** After a claim of `count` deliveries: their budget reservations. */
  claimed(count: number): RunTicket[] {
    const global = this.host.globalBudget;
    if (this.budget === undefined && global === undefined)
      return Array.from({ length: count }, () => NO_TICKET);
    const estimate = this.history.mean();
    const tickets: RunTicket[] = [];
    for (let i = 0; i < count; i++) {
      const route = this.budget === undefined ? NO_USAGE : this.reserveOf(this.budget, estimate);
      const globalShare = global === undefined ? NO_USAGE : this.reserveOf(global, estimate);
      this.budget?.reserve(route);
      global?.reserve(globalShare);
      tickets.push(new RunTicket(route, globalShare));
    }
    return tickets;
  }

  /** Right before the run: may this delivery run now? */
  async admit(delivery: Delivery): Promise<Admission> {
    const event = delivery.event;
    // Buses that do not report the key order by the partitionkey when the route names none.
    const key = delivery.key ?? (this.keyed ? undefined : event.partitionkey);
    const wait = await this.rate.takeKey(key);
    if (wait > 0) return { kind: 'defer', delayMs: wait, reason: 'rate limit' };
    const stopped = await this.host.checkLoop(this.name, event, delivery.attempt);
    if (stopped !== undefined) return { kind: 'stop', reason: stopped };
    this.runRate.started();
    return { kind: 'run' };
  }

  /** After the run: what it reports having used (handler result or error) goes on the budgets. */
  async settle(ticket: RunTicket, outcome: unknown): Promise<void> {
    const actual = usageAmountOf(outcome);
    if (actual !== undefined) this.history.add(actual);
    // Without budgets there is nothing to book (and tickets are the shared empty one).
    if (ticket === NO_TICKET || !ticket.open) return;
    ticket.open = false;
    await this.host.recordUsage(this, ticket, actual ?? NO_USAGE);
  }

  /** The run did not start (deferred, stopped, skipped) or ended without a usage report. */
  release(ticket: RunTicket): void {
    if (!ticket.open || ticket === NO_TICKET) return;
    ticket.open = false;
    this.budget?.release(ticket.route);
    this.host.globalBudget?.release(ticket.global);
  }

  status(inFlight: number): RouteGovernorStatus {
    const paused = this.host.pausedBecause(this.name);
    return {
      route: this.name,
      priority: this.priority,
      inFlight,
      runsPerMinute: this.runRate.perMinute(),
      ...(this.budget === undefined ? {} : { budget: this.budget.status() }),
      ...(paused === undefined ? {} : { paused }),
    };
  }

  /** Per-key buckets held in memory (bounded: full ones are dropped). */
  get trackedKeys(): number {
    return this.rate.trackedKeys;
  }

  private reserveOf(ledger: BudgetLedger, estimate: UsageAmount): UsageAmount {
    const fixed = ledger.budget.reserve;
    return {
      tokens: fixed?.tokens ?? estimate.tokens,
      costUsd: fixed?.costUsd ?? estimate.costUsd,
    };
  }
}
