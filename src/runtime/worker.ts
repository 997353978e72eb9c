// The worker: one claim loop per route (claim-loop.ts) under the governor's admission, each run
// under a timeout and an AbortSignal (run-attempt.ts), settled as ack / nack / dead-letter /
// cancel (run-settlement.ts); a graceful drain on stop.
import type { Bus, Delivery } from '../bus/bus.js';
import type { ResolvedRoute } from '../core/config.js';
import { RunCancelledError } from '../core/errors.js';
import { registryFor } from '../contracts/config-contracts.js';
import { upcasterFor } from '../contracts/route-upcaster.js';
import type { TypeRegistry } from '../contracts/type-registry.js';
import { Governor, type GovernorSettings } from '../governor/governor.js';
import type { GovernorStatus } from '../governor/governor-status.js';
import type { RunTicket } from '../governor/route-gate.js';
import type { Logger } from '../observe/log.js';
import { NOOP_OBSERVER, type RunObserver } from '../observe/run-observer.js';
import { BUS_ONLY_POLICY, type OutboxPolicy } from '../outbox/action-recorder.js';
import { ROUTE_DEFAULTS, subscriptionFor } from '../router/router.js';
import { claimLoop } from './claim-loop.js';
import { ShutdownAbort, type RunAbort } from './run-abort.js';
import { executeRun, type RunDeps } from './run-attempt.js';
import { emptyStats, type RouteState, type RouteStats } from './route-state.js';

export type { RouteStats } from './route-state.js';

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
  /** Budgets, the loop guard, pauses and where their state lives (config.governor). */
  governor?: GovernorSettings;
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

export interface Worker {
  start(): Promise<void>;
  /** Stops claiming, lets in-flight runs finish within the grace period, aborts the rest. */
  stop(): Promise<void>;
  readonly started: boolean;
  stats(): Record<string, RouteStats>;
  /**
   * Per route: priority, runs in flight and per minute, budget, pause; slots and circuits.
   * Absent on a daemon whose routes run in worker processes of their own.
   */
  governorStatus?(): GovernorStatus;
}

export function createWorker(options: WorkerOptions): Worker {
  return new RouteWorker(options);
}

class RouteWorker implements Worker {
  private readonly states: RouteState[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly controllers = new Set<RunAbort>();
  private readonly loops: Promise<void>[] = [];
  private readonly unsubscribes: (() => void)[] = [];
  private readonly stopController = new AbortController();
  private readonly governor: Governor;
  private readonly runDeps: RunDeps;
  started = false;

  constructor(private readonly options: WorkerOptions) {
    const { bus, log, source } = options;
    this.governor = new Governor({
      ...options.governor,
      concurrency: options.concurrency ?? Math.max(64, options.routes.length * 2),
      log,
      source,
      publish: (events) => bus.publish(events),
    });
    this.runDeps = {
      bus,
      log,
      source,
      outboxPolicy: {
        ...(options.outbox ?? BUS_ONLY_POLICY),
        recordable: bus.outbox !== undefined,
      },
      controllers: this.controllers,
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
      const state: RouteState = {
        route,
        subscription,
        stats: emptyStats(),
        concurrency: route.concurrency ?? ROUTE_DEFAULTS.concurrency,
        timeoutMs: route.timeoutMs ?? ROUTE_DEFAULTS.timeoutMs,
        leaseMs: subOptions.leaseMs,
        observe: (this.options.observer ?? NOOP_OBSERVER).route(route.name),
        upcast,
        gate: this.governor.gate(route),
        running: new Map(),
      };
      // A newer event for the key (singleton 'replace', cancelOn) stops the run it replaces.
      const unsubscribe = subscription.onCancel?.((deliveryId, reason) =>
        state.running.get(deliveryId)?.abort(new RunCancelledError(reason)),
      );
      if (unsubscribe !== undefined) this.unsubscribes.push(unsubscribe);
      this.states.push(state);
    }
    await this.governor.start();
    this.started = true;
    const deps = {
      governor: this.governor,
      stop: this.stopController.signal,
      log: this.options.log,
      launch: (state: RouteState, delivery: Delivery, ticket: RunTicket) =>
        this.launch(state, delivery, ticket),
    };
    for (const state of this.states) this.loops.push(claimLoop(state, deps));
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
    await Promise.all(this.loops);
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    await this.governor.stop();
  }

  stats(): Record<string, RouteStats> {
    return Object.fromEntries(this.states.map((s) => [s.route.name, { ...s.stats }]));
  }

  governorStatus(): GovernorStatus {
    return this.governor.status(
      Object.fromEntries(this.states.map((s) => [s.route.name, s.stats.inFlight])),
    );
  }

  private launch(state: RouteState, delivery: Delivery, ticket: RunTicket): void {
    state.stats.inFlight++;
    const run = executeRun(state, delivery, ticket, this.runDeps)
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
        this.governor.slots.release(1);
        this.inFlight.delete(run);
        this.governor.notify();
      });
    this.inFlight.add(run);
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
