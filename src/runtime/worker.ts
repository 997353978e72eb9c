// The worker: one claim loop per route (so a slow route never blocks another), handlers run under
// a timeout and an AbortSignal, outcomes settled as ack / nack / dead-letter, graceful drain on stop.
import type { Bus, Delivery, Subscription } from '../bus/bus.js';
import type { ResolvedRoute } from '../core/config.js';
import {
  describeError,
  HandlerTimeoutError,
  LeaseLostError,
  retrySteering,
} from '../core/errors.js';
import type { Logger } from '../observe/log.js';
import {
  NOOP_OBSERVER,
  type AttemptOutcome,
  type RouteObserver,
  type RunObserver,
} from '../observe/run-observer.js';
import type { RunSpans } from '../observe/run-spans.js';
import { traceIdOf } from '../observe/tracing.js';
import { registryFor } from '../contracts/config-contracts.js';
import { upcasterFor, type EventUpcast } from '../contracts/route-upcaster.js';
import type { TypeRegistry } from '../contracts/type-registry.js';
import { applyFilter, ROUTE_DEFAULTS, subscriptionFor } from '../router/router.js';
import { BUS_ONLY_POLICY, type OutboxPolicy } from '../outbox/action-recorder.js';
import { RunContext } from './context.js';
import { RunParked } from './event-wait.js';
import { runEvents } from './run-events.js';

export interface WorkerOptions {
  bus: Bus;
  routes: readonly ResolvedRoute[];
  log: Logger;
  /** The `source` of events this harness emits. */
  source: string;
  /** Runs at once across all routes. Default 64. */
  concurrency?: number;
  /** How long in-flight runs may finish on stop before they are aborted. Default 10 s. */
  shutdownGraceMs?: number;
  maxDepth?: number;
  /** Lease per claimed run, renewed while it runs; default the bus's 30 s. */
  leaseMs?: number;
  /** Metrics, spans and the live feed: told about every attempt. */
  observer?: RunObserver;
  /** Event type contracts, for routes that accept a version. Default: the built-in types and
   * those the routes accept by handle. */
  registry?: TypeRegistry;
  /** What ctx.outbox may record (configured sinks, dry run). Default: `bus` actions only. */
  outbox?: Omit<OutboxPolicy, 'recordable'>;
}

export interface RouteStats {
  inFlight: number;
  attempts: number;
  completed: number;
  skipped: number;
  retried: number;
  deadLettered: number;
}

export interface Worker {
  start(): Promise<void>;
  /** Stops claiming, lets in-flight runs finish within the grace period, aborts the rest. */
  stop(): Promise<void>;
  readonly started: boolean;
  stats(): Record<string, RouteStats>;
}

class ShutdownAbort extends Error {
  constructor() {
    super('agentd is shutting down');
  }
}

interface RouteState {
  route: ResolvedRoute;
  subscription: Subscription;
  stats: RouteStats;
  concurrency: number;
  timeoutMs: number;
  leaseMs: number;
  observe: RouteObserver;
  /** Brings events to the version the route accepts; undefined when it accepts none. */
  upcast: EventUpcast | undefined;
}

export function createWorker(options: WorkerOptions): Worker {
  return new RouteWorker(options);
}

class RouteWorker implements Worker {
  private readonly states: RouteState[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly controllers = new Set<AbortController>();
  private readonly loops: Promise<void>[] = [];
  private readonly stopController = new AbortController();
  private slotWaiters: Array<() => void> = [];
  private globalFree: number;
  private readonly maxDepth: number;
  private readonly outboxPolicy: OutboxPolicy;
  started = false;

  constructor(private readonly options: WorkerOptions) {
    this.globalFree = options.concurrency ?? Math.max(64, options.routes.length * 2);
    this.maxDepth = options.maxDepth ?? 16;
    this.outboxPolicy = {
      ...(options.outbox ?? BUS_ONLY_POLICY),
      recordable: options.bus.outbox !== undefined,
    };
  }

  async start(): Promise<void> {
    const { bus, routes } = this.options;
    await bus.retainSubscriptions(routes.map((r) => r.name));
    const registry = this.options.registry ?? registryFor({ routes });
    for (const route of routes) {
      // Before subscribing: a route accepting a version no type has fails the start.
      const upcast = upcasterFor(route, registry);
      const subOptions = subscriptionFor(route);
      if (this.options.leaseMs !== undefined) subOptions.leaseMs = this.options.leaseMs;
      const subscription = await bus.subscribe(route.name, subOptions);
      this.states.push({
        route,
        subscription,
        stats: {
          inFlight: 0,
          attempts: 0,
          completed: 0,
          skipped: 0,
          retried: 0,
          deadLettered: 0,
        },
        concurrency: route.concurrency ?? ROUTE_DEFAULTS.concurrency,
        timeoutMs: route.timeoutMs ?? ROUTE_DEFAULTS.timeoutMs,
        leaseMs: subOptions.leaseMs,
        observe: (this.options.observer ?? NOOP_OBSERVER).route(route.name),
        upcast,
      });
    }
    this.started = true;
    for (const state of this.states) this.loops.push(this.claimLoop(state));
  }

  async stop(): Promise<void> {
    if (this.stopController.signal.aborted) return;
    this.stopController.abort();
    const grace = this.options.shutdownGraceMs ?? 10_000;
    const drained = await settleWithin([...this.inFlight], grace);
    if (!drained) {
      this.options.log.warn(
        { inFlight: this.inFlight.size },
        'grace period over: aborting runs still in flight',
      );
      for (const controller of this.controllers) controller.abort(new ShutdownAbort());
      await settleWithin([...this.inFlight], 5_000);
    }
    this.wakeSlotWaiters();
    await Promise.all(this.loops);
  }

  stats(): Record<string, RouteStats> {
    return Object.fromEntries(this.states.map((s) => [s.route.name, { ...s.stats }]));
  }

  private async claimLoop(state: RouteState): Promise<void> {
    const stop = this.stopController.signal;
    let idle = true;
    while (!stop.aborted) {
      // Admission before claim: reserve global slots first. An idle route waits holding one slot,
      // a busy one takes what is ready without waiting.
      const want = Math.min(
        state.concurrency - state.stats.inFlight,
        this.globalFree,
        idle ? 1 : Number.MAX_SAFE_INTEGER,
      );
      if (want <= 0) {
        await this.slotFreed();
        continue;
      }
      this.globalFree -= want;
      let deliveries: Delivery[] = [];
      try {
        deliveries = await state.subscription.pull({
          max: want,
          waitMs: idle ? 1_000 : 0,
          signal: stop,
        });
      } catch (error) {
        if (!stop.aborted)
          this.options.log.error(
            { route: state.route.name, err: error },
            'claiming failed; retrying in 1 s',
          );
        await sleep(stop.aborted ? 0 : 1_000);
      } finally {
        this.globalFree += want - deliveries.length;
      }
      idle = deliveries.length === 0;
      if (stop.aborted) {
        // Claimed while stopping: hand back untouched, without spending an attempt.
        await Promise.allSettled(deliveries.map((d) => d.release()));
        break;
      }
      for (const delivery of deliveries) this.launch(state, delivery);
    }
  }

  private launch(state: RouteState, delivery: Delivery): void {
    state.stats.inFlight++;
    const run = this.execute(state, delivery)
      .catch((error: unknown) => {
        this.options.log.error(
          {
            route: state.route.name,
            runId: delivery.deliveryId,
            eventId: delivery.event.id,
            err: error,
          },
          'settling a run failed',
        );
      })
      .finally(() => {
        state.stats.inFlight--;
        this.globalFree++;
        this.inFlight.delete(run);
        this.wakeSlotWaiters();
      });
    this.inFlight.add(run);
  }

  /** One attempt, reported to the observer (metrics, spans, live feed) however it ends. */
  private async execute(state: RouteState, delivery: Delivery): Promise<void> {
    state.stats.attempts++;
    const spans = state.observe.started(delivery);
    let outcome: AttemptOutcome = 'unsettled';
    try {
      outcome = await this.attempt(state, delivery, spans);
    } finally {
      state.observe.settled(delivery, spans, outcome);
    }
  }

  private async attempt(
    state: RouteState,
    delivery: Delivery,
    spans: RunSpans | undefined,
  ): Promise<AttemptOutcome> {
    const { route } = state;
    const log = this.options.log;
    const ids = {
      eventId: delivery.event.id,
      route: route.name,
      runId: delivery.deliveryId,
      attempt: delivery.attempt,
      traceId: spans?.traceId ?? traceIdOf(delivery.event.traceparent),
    };
    let event = delivery.event;
    if (state.upcast !== undefined) {
      try {
        event = state.upcast(event);
      } catch (error) {
        // Upcasting is deterministic: a retry would fail the same way.
        state.stats.deadLettered++;
        log.error(
          { ...ids, err: error },
          'the event cannot be brought to the version the route accepts; dead-lettering',
        );
        await delivery.deadLetter(describeError(error));
        return 'dead';
      }
    }
    const verdict = applyFilter(route, event);
    if (!verdict.run) {
      if (verdict.error === undefined) {
        state.stats.skipped++;
        await delivery.ack({ outcome: 'skipped' });
        return 'skipped';
      }
      state.stats.deadLettered++;
      log.error({ ...ids, err: verdict.error }, 'route filter threw; dead-lettering');
      await delivery.deadLetter(`route filter threw: ${describeError(verdict.error)}`);
      return 'dead';
    }

    const controller = new RunAbort();
    this.controllers.add(controller);
    const timeout = setTimeout(
      () => controller.abort(new HandlerTimeoutError(state.timeoutMs)),
      state.timeoutMs,
    );
    const extender = setInterval(
      () => {
        delivery.extend().catch((error: unknown) => {
          if (!controller.signal.aborted)
            controller.abort(
              error instanceof LeaseLostError ? error : new LeaseLostError(delivery.deliveryId),
            );
        });
      },
      Math.max(100, Math.floor(state.leaseMs / 3)),
    );
    const ctx = new RunContext({
      delivery,
      route: route.name,
      signal: controller.signal,
      log,
      source: this.options.source,
      maxDepth: this.maxDepth,
      ...(spans === undefined ? {} : { spans }),
      outbox: { policy: this.outboxPolicy, dryRun: route.dryRun, approval: route.approval },
      onPark: (wait) => controller.abort(new RunParked(wait)),
    });
    spans?.startHandler(route.name);
    const started = performance.now();
    let failure: { error: unknown } | undefined;
    // An agent handler returns its token usage; agentd.run.completed carries it.
    let returned: unknown;
    try {
      returned = await controller.race(Promise.resolve().then(() => route.handler(event, ctx)));
    } catch (error) {
      failure = {
        error: controller.signal.aborted ? (controller.signal.reason as unknown) : error,
      };
    } finally {
      clearTimeout(timeout);
      clearInterval(extender);
      this.controllers.delete(controller);
    }
    const emitted = ctx.seal();
    const durationMs = performance.now() - started;
    const source = this.options.source;
    // A handler that reached an unresolved ctx.waitForEvent is suspended there: the run parks.
    const wait = failure?.error instanceof RunParked ? failure.error.wait : undefined;
    state.observe.handled(
      spans,
      failure === undefined || wait !== undefined,
      durationMs,
      failure === undefined ? returned : failure.error,
    );

    if (wait !== undefined && delivery.park !== undefined) {
      // Actions recorded so far go out now (a question posted, then its answer awaited); emits
      // wait for the run's end, when the replayed handler makes them again.
      await delivery.park(wait, { actions: ctx.actions });
      log.info({ ...ids, waitFor: wait.type }, `run parked: waiting for a ${wait.type} event`);
      return 'parked';
    }
    if (failure === undefined) {
      state.stats.completed++;
      await delivery.ack({
        actions: ctx.actions,
        publish: [
          ...emitted,
          ...runEvents(
            this.options.bus,
            delivery,
            route.name,
            { status: 'completed', durationMs, result: returned },
            source,
          ),
        ],
      });
      if (log.isLevelEnabled('debug')) log.debug({ ...ids, durationMs }, 'run completed');
      return 'completed';
    }
    const { error } = failure;
    if (error instanceof ShutdownAbort) {
      await delivery.release();
      return 'released';
    }
    if (error instanceof LeaseLostError) {
      log.warn(ids, 'lease lost mid-run: another attempt owns this delivery now');
      return 'lease-lost';
    }
    const message = describeError(error);
    const steering = retrySteering(error);
    const willRetry = steering.retryable && delivery.attempt < delivery.maxAttempts;
    const publish = runEvents(
      this.options.bus,
      delivery,
      route.name,
      { status: 'failed', durationMs, error: message, willRetry },
      source,
    );
    if (!steering.retryable) {
      state.stats.deadLettered++;
      log.error({ ...ids, err: error }, 'run failed and will not be retried: dead-lettered');
      await delivery.deadLetter(message, { publish });
      return 'dead';
    }
    const result = await delivery.nack({
      error: message,
      publish,
      ...(steering.retryAfterMs === undefined ? {} : { delayMs: steering.retryAfterMs }),
    });
    if (result === 'dead') {
      state.stats.deadLettered++;
      log.error(
        { ...ids, err: error },
        `run failed on its last attempt (${delivery.maxAttempts}): dead-lettered`,
      );
      return 'dead';
    }
    state.stats.retried++;
    log.warn({ ...ids, err: error }, 'run failed; will retry');
    return 'retry';
  }

  private slotFreed(): Promise<void> {
    if (this.stopController.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private wakeSlotWaiters(): void {
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * A run's abort switch. It ends the wait for the handler itself when it fires, instead of through
 * an 'abort' listener: adding and removing a listener on a fresh AbortSignal costs more than the
 * rest of a no-op run's bookkeeping.
 */
class RunAbort extends AbortController {
  private onAbort: ((reason: unknown) => void) | undefined;

  override abort(reason?: unknown): void {
    if (this.signal.aborted) return;
    super.abort(reason);
    this.onAbort?.(this.signal.reason);
  }

  /** Resolves or rejects with `work`, or rejects with the abort reason as soon as the run aborts. */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.signal.aborted) return reject(this.signal.reason as Error);
      this.onAbort = reject;
      // Handlers may throw non-Errors carrying retry hints; they are passed on untouched.
      work.then(resolve, reject);
    });
  }
}

async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  if (promises.length === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = Promise.allSettled(promises).then(() => true as const);
  const result = await Promise.race([done, timedOut]);
  clearTimeout(timer);
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
