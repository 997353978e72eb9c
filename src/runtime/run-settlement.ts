// How a run that went through its handler is settled: parked at a wait, acked with its emits and
// outbox actions, cancelled (nothing it recorded is kept), handed back on shutdown, retried or
// dead-lettered as its error steers.
import type { Bus, Delivery, WaitRequest } from '../bus/bus.js';
import type { RecordedAction } from '../bus/outbox-store.js';
import type { AgentdEvent } from '../core/envelope.js';
import {
  describeError,
  LeaseLostError,
  openCircuitIn,
  RunCancelledError,
  retrySteering,
} from '../core/errors.js';
import type { Logger } from '../observe/log.js';
import type { AttemptOutcome } from '../observe/run-observer.js';
import { ShutdownAbort } from './run-abort.js';
import { runEvents } from './run-events.js';
import type { RouteState } from './route-state.js';

/** What every log line about the run carries. */
export interface RunIds {
  eventId: string;
  route: string;
  runId: string;
  attempt: number;
  traceId: string | undefined;
}

export interface HandledRun {
  state: RouteState;
  delivery: Delivery;
  ids: RunIds;
  emitted: readonly AgentdEvent[];
  actions: readonly RecordedAction[];
  durationMs: number;
  returned: unknown;
  failure: { error: unknown } | undefined;
  /** Set when the handler reached an unresolved ctx.waitForEvent. */
  wait: WaitRequest | undefined;
}

export interface SettleDeps {
  bus: Bus;
  log: Logger;
  source: string;
}

export async function settleRun(run: HandledRun, deps: SettleDeps): Promise<AttemptOutcome> {
  try {
    return await settle(run, deps);
  } catch (error) {
    if (!(error instanceof RunCancelledError)) throw error;
    return endedCancelled(run.state, run.delivery, run.ids, error, run.durationMs, deps);
  }
}

/**
 * The bus was asked to cancel the lease while the worker settled it (ack, nack, defer...): the
 * bus ended it cancelled instead, and threw. Announced here, as that settle published nothing.
 */
export async function endedCancelled(
  state: RouteState,
  delivery: Delivery,
  ids: RunIds,
  error: RunCancelledError,
  durationMs: number,
  deps: SettleDeps,
): Promise<AttemptOutcome> {
  state.stats.cancelled++;
  deps.log.info({ ...ids, reason: error.reason }, `run cancelled: ${error.reason}`);
  const publish = runEvents(
    deps.bus,
    delivery,
    state.route.name,
    { status: 'cancelled', durationMs, reason: error.reason },
    deps.source,
  );
  if (publish.length > 0) await deps.bus.publish(publish);
  return 'cancelled';
}

async function settle(run: HandledRun, deps: SettleDeps): Promise<AttemptOutcome> {
  const { state, delivery, ids, failure, durationMs } = run;
  const { log, bus, source } = deps;
  const route = state.route.name;

  if (run.wait !== undefined && delivery.park !== undefined) {
    // Actions recorded so far go out now (a question posted, then its answer awaited); emits
    // wait for the run's end, when the replayed handler makes them again.
    await delivery.park(run.wait, { actions: run.actions });
    log.info(
      { ...ids, waitFor: run.wait.type },
      `run parked: waiting for a ${run.wait.type} event`,
    );
    return 'parked';
  }
  if (failure === undefined) {
    await delivery.ack({
      actions: run.actions,
      publish: [
        ...run.emitted,
        ...runEvents(
          bus,
          delivery,
          route,
          { status: 'completed', durationMs, result: run.returned },
          source,
        ),
      ],
    });
    state.stats.completed++;
    if (log.isLevelEnabled('debug')) log.debug({ ...ids, durationMs }, 'run completed');
    return 'completed';
  }
  const { error } = failure;
  if (error instanceof RunCancelledError) {
    // No ack: the run's emits and outbox actions are discarded with it.
    await delivery.cancel(error.reason, { publish: cancelledEvents(run, error.reason, deps) });
    state.stats.cancelled++;
    log.info({ ...ids, reason: error.reason }, `run cancelled: ${error.reason}`);
    return 'cancelled';
  }
  if (error instanceof ShutdownAbort) {
    await delivery.release();
    return 'released';
  }
  if (error instanceof LeaseLostError) {
    log.warn(ids, 'lease lost mid-run: another attempt owns this delivery now');
    return 'lease-lost';
  }
  const circuit = openCircuitIn(error);
  if (circuit !== undefined) {
    // Not the run's fault: it waits out the cool-down without spending an attempt; its steps so
    // far stay memoized, so it resumes where it stopped.
    await delivery.defer(circuit.retryAfterMs, circuit.message);
    state.stats.deferred++;
    log.warn({ ...ids, retryAfterMs: circuit.retryAfterMs }, `run deferred: ${circuit.message}`);
    return 'deferred';
  }
  const message = describeError(error);
  const steering = retrySteering(error);
  const willRetry = steering.retryable && delivery.attempt < delivery.maxAttempts;
  const publish = runEvents(
    bus,
    delivery,
    route,
    { status: 'failed', durationMs, error: message, willRetry },
    source,
  );
  if (!steering.retryable) {
    await delivery.deadLetter(message, { publish });
    state.stats.deadLettered++;
    log.error({ ...ids, err: error }, 'run failed and will not be retried: dead-lettered');
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

function cancelledEvents(run: HandledRun, reason: string, deps: SettleDeps): AgentdEvent[] {
  return runEvents(
    deps.bus,
    run.delivery,
    run.state.route.name,
    { status: 'cancelled', durationMs: run.durationMs, reason },
    deps.source,
  );
}
