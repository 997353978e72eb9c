// The governor decides when a delivery may run; admission is a wait, never a drop. It holds the
// global slots, one gate per route, the budgets and the loop guard, and re-reads what operators
// set by hand (agentd pause/resume) and other workers used, so a change takes effect within a
// refresh (half a second by default).
import type { Clock, CancelTimer } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { ResolvedRoute } from '../core/config.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { Budget } from '../core/route.js';
import type { Logger } from '../observe/log.js';
import { BudgetLedger, type ThresholdCrossing } from './budget-ledger.js';
import type { CircuitSnapshot } from './circuit-breaker.js';
import { budgetThresholdEvent, routePauseEvent, type PauseChange } from './governor-events.js';
import { budgetPause, type GovernorStatus, type PauseStatus } from './governor-status.js';
import {
  MemoryGovernorStore,
  type GovernorControls,
  type GovernorStore,
  type UsageAmount,
} from './governor-store.js';
import { GlobalSlots } from './global-slots.js';
import { LOOP_DEFAULTS, LoopGuard, type LoopLimits } from './loop-guard.js';
import { RouteGate, type GateHost, type RunTicket } from './route-gate.js';
import { rateLimitList, RouteRateLimit } from './route-rate-limit.js';

/** What the daemon's config and composition root give the governor. */
export interface GovernorSettings {
  /**
   * Where budgets, pauses and chain counts live, and rate-limit buckets when the store shares them.
   * Default: this process's memory.
   */
  store?: GovernorStore;
  /** governor.budget: spans every route. */
  budget?: Budget;
  /** governor.loop. */
  loop?: Partial<LoopLimits>;
  /** Drives rate limits and budget windows; tests pass a controllable one. */
  clock?: Clock;
  /** How often operator pauses and shared usage are read again. Default 500 ms. */
  refreshMs?: number;
  /** The circuit breakers' states, for status. */
  circuits?: () => readonly CircuitSnapshot[];
}

export interface GovernorOptions extends GovernorSettings {
  /** worker.concurrency: runs at once across all routes. */
  concurrency: number;
  log: Logger;
  /** The `source` of the events the governor announces. */
  source: string;
  publish(events: readonly AgentdEvent[]): Promise<unknown>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
// Months are at most 31 days; usage of windows older than two of them is of no further use.
const KEEP_WINDOWS_MS = 62 * DAY_MS;
const KEEP_CHAINS_MS = 7 * DAY_MS;
const SWEEP_EVERY_MS = 60 * 60 * 1000;

export class Governor implements GateHost {
  readonly slots: GlobalSlots;
  readonly clock: Clock;
  readonly globalBudget: BudgetLedger | undefined;
  readonly loopLimits: LoopLimits;
  private readonly store: GovernorStore;
  private readonly loop: LoopGuard;
  private readonly gates = new Map<string, RouteGate>();
  private controls: GovernorControls = { pauses: [], lifts: [] };
  private readonly pausedSeen = new Map<string, PauseStatus | undefined>();
  private readonly waiters = new Set<() => void>();
  private refresher: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private nextSweep = 0;
  /** Thresholds this worker claimed whose announcement is not published yet. */
  private readonly unannounced: ThresholdCrossing[] = [];

  constructor(private readonly options: GovernorOptions) {
    this.clock = options.clock ?? systemClock;
    this.store = options.store ?? new MemoryGovernorStore();
    this.slots = new GlobalSlots(options.concurrency);
    this.loopLimits = { ...LOOP_DEFAULTS, ...definedOnly(options.loop ?? {}) };
    this.loop = new LoopGuard(this.loopLimits, this.store, () => this.clock.now());
    this.globalBudget =
      options.budget === undefined
        ? undefined
        : new BudgetLedger('global', options.budget, this.store, this.clock);
  }

  /** The gate of a route; made once per route, before start(). */
  gate(route: ResolvedRoute): RouteGate {
    const budget =
      route.budget === undefined
        ? undefined
        : new BudgetLedger(route.name, route.budget, this.store, this.clock);
    // Routes with a rate limit share it through the store when it offers that (NATS), so several
    // worker processes together admit no more than the limit; otherwise it is this process's.
    const shared = route.rateLimit === undefined ? undefined : this.store.rateLimits;
    const rate =
      shared?.routeLimit(route.name, rateLimitList(route.rateLimit), this.clock) ??
      new RouteRateLimit(route.rateLimit, this.clock);
    const gate = new RouteGate(route, this, budget, rate);
    this.gates.set(route.name, gate);
    return gate;
  }

  /** Reads budgets and pauses, then keeps them fresh until stop(). */
  async start(): Promise<void> {
    await this.refresh();
    for (const name of this.gates.keys()) this.pausedSeen.set(name, this.pausedBecause(name));
    for (const [name, paused] of this.pausedSeen)
      if (paused !== undefined)
        this.options.log.warn({ route: name, paused }, `route ${name} is paused: ${paused.reason}`);
    const every = this.options.refreshMs ?? 500;
    this.refresher = setInterval(() => {
      this.refreshing ??= this.refresh()
        .catch((error: unknown) =>
          this.options.log.error({ err: error }, 'reading the governor state failed'),
        )
        .finally(() => (this.refreshing = undefined));
    }, every);
    this.refresher.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.refresher);
    this.refresher = undefined;
    await this.refreshing;
    this.notify();
  }

  // --- GateHost ---

  now(): number {
    return this.clock.now();
  }

  pausedBecause(route: string): PauseStatus | undefined {
    const operator = this.controls.pauses.find((p) => p.route === route);
    if (operator !== undefined)
      return {
        cause: 'operator',
        reason: operator.reason,
        by: operator.by,
        since: new Date(operator.at).toISOString(),
      };
    const gate = this.gates.get(route);
    const own = budgetPause(gate?.budget);
    return own ?? (gate?.heedsGlobalBudget === false ? undefined : budgetPause(this.globalBudget));
  }

  checkLoop(route: string, event: AgentdEvent, attempt: number): Promise<string | undefined> {
    return this.loop.check(route, event, attempt);
  }

  async recordUsage(gate: RouteGate, ticket: RunTicket, actual: UsageAmount): Promise<void> {
    try {
      const crossed: ThresholdCrossing[] = [];
      if (gate.budget !== undefined)
        crossed.push(...(await gate.budget.record(ticket.route, actual)));
      if (this.globalBudget !== undefined)
        crossed.push(...(await this.globalBudget.record(ticket.global, actual)));
      if (crossed.length > 0) await this.announceThresholds(crossed);
    } catch (error) {
      // The run itself went fine: its settlement goes on; the budget is behind by this run.
      this.options.log.error(
        { route: gate.name, err: error },
        'booking a run on its budget failed',
      );
    } finally {
      this.observePauses();
      this.notify();
    }
  }

  // --- for claim loops ---

  /** Resolves when admission may have changed (a run settled, a refresh), after `ms`, or on abort. */
  waitForChange(ms: number | undefined, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let cancel: CancelTimer | undefined;
      const done = () => {
        cancel?.();
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      if (ms !== undefined) cancel = this.clock.setTimer(done, Math.max(0, ms));
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes every waiting claim loop to look again. */
  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  status(inFlight: Readonly<Record<string, number>>): GovernorStatus {
    const paused = budgetPause(this.globalBudget);
    return {
      routes: [...this.gates.values()].map((gate) => gate.status(inFlight[gate.name] ?? 0)),
      global: {
        concurrency: this.slots.capacity,
        free: this.slots.available,
        waiting: this.slots.waiting,
        ...(this.globalBudget === undefined ? {} : { budget: this.globalBudget.status() }),
        ...(paused === undefined ? {} : { paused }),
      },
      loop: this.loopLimits,
      circuits: [...(this.options.circuits?.() ?? [])],
    };
  }

  /** Reads pauses, lifts and shared usage again; announces routes that paused or resumed. */
  private async refresh(): Promise<void> {
    const controls = await this.store.controls();
    this.controls = controls;
    const liftOf = (scope: string) => controls.lifts.find((l) => l.scope === scope)?.until ?? 0;
    this.globalBudget?.liftUntil(liftOf('global'));
    const ledgers: BudgetLedger[] = this.globalBudget === undefined ? [] : [this.globalBudget];
    for (const gate of this.gates.values())
      if (gate.budget !== undefined) {
        gate.budget.liftUntil(liftOf(gate.name));
        ledgers.push(gate.budget);
      }
    await Promise.all(ledgers.map((ledger) => ledger.load()));
    await this.sweepIfDue();
    await this.publishClaimedThresholds().catch((error: unknown) =>
      this.options.log.error({ err: error }, 'announcing budget thresholds failed'),
    );
    this.observePauses();
    this.notify();
  }

  private async sweepIfDue(): Promise<void> {
    const now = this.clock.now();
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_EVERY_MS;
    await this.store.sweep({
      windowsBefore: now - KEEP_WINDOWS_MS,
      chainsBefore: now - KEEP_CHAINS_MS,
      now,
    });
  }

  /**
   * Claims each crossing in the store first: only the worker whose mark goes in announces it, so a
   * threshold crossed by many workers together is announced once. Then publishes what it claimed
   * (ids derived from what they announce); a claimed one whose publish fails is tried again on the
   * next refresh.
   */
  private async announceThresholds(crossed: readonly ThresholdCrossing[]): Promise<void> {
    const now = this.clock.now();
    for (const c of crossed) if (await this.store.markThreshold(c, now)) this.unannounced.push(c);
    await this.publishClaimedThresholds();
  }

  private async publishClaimedThresholds(): Promise<void> {
    if (this.unannounced.length === 0) return;
    const claimed = this.unannounced.splice(0);
    try {
      await this.options.publish(claimed.map((c) => budgetThresholdEvent(c, this.options.source)));
    } catch (error) {
      this.unannounced.unshift(...claimed);
      throw error;
    }
    for (const c of claimed)
      this.options.log.warn(
        { scope: c.scope, window: c.window, fraction: c.fraction, used: c.used, limit: c.limit },
        `budget ${c.scope}: ${Math.round(c.fraction * 100)}% of ${c.limit} ${c.unit} used this ${c.window}`,
      );
  }

  /** Logs and announces routes whose paused state changed since last seen. */
  private observePauses(): void {
    if (this.pausedSeen.size === 0) return;
    const changes: PauseChange[] = [];
    for (const [route, was] of this.pausedSeen) {
      const now = this.pausedBecause(route);
      if (now?.cause === was?.cause) continue;
      this.pausedSeen.set(route, now);
      if (now !== undefined) {
        this.options.log.warn({ route, paused: now }, `route ${route} paused: ${now.reason}`);
        changes.push({ route, paused: true, cause: now.cause, reason: now.reason });
      } else if (was !== undefined) {
        this.options.log.info({ route }, `route ${route} resumed`);
        changes.push({ route, paused: false, cause: was.cause, reason: resumedReason(was) });
      }
    }
    if (changes.length === 0) return;
    const events = changes.map((c) => routePauseEvent(c, this.options.source));
    this.options
      .publish(events)
      .catch((error: unknown) =>
        this.options.log.error({ err: error }, 'announcing paused or resumed routes failed'),
      );
  }
}

function resumedReason(was: PauseStatus): string {
  return was.cause === 'operator' ? 'agentd resume' : 'the budget window rolled over or was lifted';
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
