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
import { applyFilter, ROUTE_DEFAULTS, subscriptionFor } from '../router/router.js';
import { RunContext } from './context.js';
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
}

export interface RouteStats {
  inFlight: number;
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
  started = false;

  constructor(private readonly options: WorkerOptions) {
    this.globalFree = options.concurrency ?? Math.max(64, options.routes.length * 2);
    this.maxDepth = options.maxDepth ?? 16;
  }

  async start(): Promise<void> {
    const { bus, routes } = this.options;
    await bus.retainSubscriptions(routes.map((r) => r.name));
    for (const route of routes) {
      const subOptions = subscriptionFor(route);
      const subscription = await bus.subscribe(route.name, subOptions);
      this.states.push({
        route,
        subscription,
        stats: { inFlight: 0, completed: 0, skipped: 0, retried: 0, deadLettered: 0 },
        concurrency: route.concurrency ?? ROUTE_DEFAULTS.concurrency,
        timeoutMs: route.timeoutMs ?? ROUTE_DEFAULTS.timeoutMs,
        leaseMs: subOptions.leaseMs,
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

  private async execute(state: RouteState, delivery: Delivery): Promise<void> {
    const { route } = state;
    const log = this.options.log;
    const ids = {
      eventId: delivery.event.id,
      route: route.name,
      runId: delivery.deliveryId,
      attempt: delivery.attempt,
    };
    const verdict = applyFilter(route, delivery.event);
    if (!verdict.run) {
      if (verdict.error === undefined) {
        state.stats.skipped++;
        return delivery.ack({ outcome: 'skipped' });
      }
      state.stats.deadLettered++;
      log.error({ ...ids, err: verdict.error }, 'route filter threw; dead-lettering');
      return delivery.deadLetter(`route filter threw: ${describeError(verdict.error)}`);
    }

    const controller = new AbortController();
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
    });
    const started = performance.now();
    let failure: { error: unknown } | undefined;
    try {
      await untilAborted(
        Promise.resolve().then(() => route.handler(delivery.event, ctx)),
        controller.signal,
      );
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

    if (failure === undefined) {
      state.stats.completed++;
      await delivery.ack({
        publish: [
          ...emitted,
          ...runEvents(
            this.options.bus,
            delivery,
            route.name,
            { status: 'completed', durationMs },
            source,
          ),
        ],
      });
      log.debug({ ...ids, durationMs }, 'run completed');
      return;
    }
    const { error } = failure;
    if (error instanceof ShutdownAbort) return delivery.release();
    if (error instanceof LeaseLostError) {
      log.warn(ids, 'lease lost mid-run: another attempt owns this delivery now');
      return;
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
      return delivery.deadLetter(message, { publish });
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
    } else {
      state.stats.retried++;
      log.warn({ ...ids, err: error }, 'run failed; will retry');
    }
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

/** Resolves or rejects with `work`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        // Handlers may throw non-Errors carrying retry hints; pass them on untouched.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(error);
      },
    );
  });
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
