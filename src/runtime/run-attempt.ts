// One attempt of a claimed delivery: admission (per-key rate limit, loop guard), upcast and
// filter, then the handler under a timeout, a renewed lease and an AbortSignal that a cancel from
// the bus fires too; what came of it is settled by run-settlement.ts.
import type { Bus, Delivery } from '../bus/bus.js';
import type { AgentdEvent } from '../core/envelope.js';
import {
  describeError,
  HandlerTimeoutError,
  LeaseLostError,
  RunCancelledError,
} from '../core/errors.js';
import type { BatchHandler } from '../core/route.js';
import { loopDetectedEvent } from '../governor/governor-events.js';
import type { RunTicket } from '../governor/route-gate.js';
import type { Logger } from '../observe/log.js';
import type { AttemptOutcome } from '../observe/run-observer.js';
import type { RunSpans } from '../observe/run-spans.js';
import { traceIdOf } from '../observe/tracing.js';
import type { OutboxPolicy } from '../outbox/action-recorder.js';
import { applyFilter } from '../router/router.js';
import { RunContext } from './context.js';
import { RunParked } from './event-wait.js';
import { RunAbort } from './run-abort.js';
import { endedCancelled, settleRun, type RunIds } from './run-settlement.js';
import type { RouteState } from './route-state.js';

export interface RunDeps {
  bus: Bus;
  log: Logger;
  /** The `source` of events this harness emits. */
  source: string;
  outboxPolicy: OutboxPolicy;
  /** Every run's abort switch, for the shutdown's last resort. */
  controllers: Set<RunAbort>;
}

/** One attempt, reported to the observer (metrics, spans, live feed) however it ends. */
export async function executeRun(
  state: RouteState,
  delivery: Delivery,
  ticket: RunTicket,
  deps: RunDeps,
): Promise<void> {
  state.stats.attempts++;
  const spans = state.observe.started(delivery);
  let outcome: AttemptOutcome = 'unsettled';
  const ids: RunIds = {
    eventId: delivery.event.id,
    route: state.route.name,
    runId: delivery.deliveryId,
    attempt: delivery.attempt,
    traceId: spans?.traceId ?? traceIdOf(delivery.event.traceparent),
  };
  try {
    outcome = await attempt(state, delivery, ticket, spans, ids, deps);
  } catch (error) {
    // Cancelled before its handler ran (while admitted, deferred or skipped).
    if (!(error instanceof RunCancelledError)) throw error;
    outcome = await endedCancelled(state, delivery, ids, error, 0, deps);
  } finally {
    // A run that booked its usage closed its ticket already; any other gives its reservation back.
    state.gate.release(ticket);
    state.observe.settled(delivery, spans, outcome);
  }
}

async function attempt(
  state: RouteState,
  delivery: Delivery,
  ticket: RunTicket,
  spans: RunSpans | undefined,
  ids: RunIds,
  deps: RunDeps,
): Promise<AttemptOutcome> {
  const { route } = state;
  const log = deps.log;

  const admission = await state.gate.admit(delivery);
  if (admission.kind === 'defer') {
    state.stats.deferred++;
    await delivery.defer(admission.delayMs, admission.reason);
    return 'deferred';
  }
  if (admission.kind === 'stop') {
    state.stats.deadLettered++;
    log.warn({ ...ids, correlationId: delivery.event.correlationid }, admission.reason);
    await delivery.deadLetter(admission.reason, {
      publish: [loopDetectedEvent(route.name, delivery.event, admission.reason, deps.source)],
    });
    return 'dead';
  }

  const prepared = prepare(state, delivery);
  if (prepared.kind === 'dead') {
    state.stats.deadLettered++;
    log.error({ ...ids, err: prepared.error }, `${prepared.reason}; dead-lettering`);
    await delivery.deadLetter(prepared.reason);
    return 'dead';
  }
  if (prepared.kind === 'skip') {
    state.stats.skipped++;
    await delivery.ack({ outcome: 'skipped' });
    return 'skipped';
  }

  const controller = new RunAbort();
  deps.controllers.add(controller);
  state.running.set(delivery.deliveryId, controller);
  const timeout = setTimeout(
    () => controller.abort(new HandlerTimeoutError(state.timeoutMs)),
    state.timeoutMs,
  );
  const extender = setInterval(
    () => {
      delivery.extend().catch((error: unknown) => {
        if (controller.aborted) return;
        // A cancel requested by the bus surfaces here when no listener told us first.
        controller.abort(
          error instanceof LeaseLostError || error instanceof RunCancelledError
            ? error
            : new LeaseLostError(delivery.deliveryId),
        );
      });
    },
    Math.max(100, Math.floor(state.leaseMs / 3)),
  );
  const ctx = new RunContext({
    delivery,
    route: route.name,
    // Read by the context only when the handler asks for it: see RunAbort.
    get signal() {
      return controller.signal;
    },
    log,
    source: deps.source,
    ...(spans === undefined ? {} : { spans }),
    outbox: { policy: deps.outboxPolicy, dryRun: route.dryRun, approval: route.approval },
    onPark: (wait) => controller.abort(new RunParked(wait)),
  });
  const started = performance.now();
  spans?.startHandler(started);
  let failure: { error: unknown } | undefined;
  // An agent handler returns its token usage: its budgets and agentd.run.completed carry it.
  let returned: unknown;
  try {
    const call =
      prepared.kind === 'batch'
        ? () => (route.handler as unknown as BatchHandler)(prepared.events, ctx)
        : () => route.handler(prepared.event, ctx);
    returned = await controller.race(Promise.resolve().then(call));
  } catch (error) {
    failure = {
      error: controller.aborted ? controller.reason : error,
    };
  } finally {
    clearTimeout(timeout);
    clearInterval(extender);
    deps.controllers.delete(controller);
    state.running.delete(delivery.deliveryId);
  }
  const emitted = ctx.seal();
  const durationMs = performance.now() - started;
  // A handler that reached an unresolved ctx.waitForEvent is suspended there: the run parks.
  const wait = failure?.error instanceof RunParked ? failure.error.wait : undefined;
  state.observe.handled(
    spans,
    failure === undefined || wait !== undefined,
    durationMs,
    failure === undefined ? returned : failure.error,
    delivery,
  );
  // What the run spent is booked whatever became of it: the tokens are gone either way. An agent
  // books each model call as it ends (ctx.spend), so turns replayed from steps are not charged twice.
  await state.gate.settle(ticket, ctx.spent ?? (failure === undefined ? returned : failure.error));
  return settleRun(
    {
      state,
      delivery,
      ids,
      emitted,
      actions: ctx.actions,
      durationMs,
      returned,
      failure,
      wait,
    },
    deps,
  );
}

type Prepared =
  | { kind: 'single'; event: AgentdEvent }
  | { kind: 'batch'; events: AgentdEvent[] }
  | { kind: 'skip' }
  | { kind: 'dead'; reason: string; error: unknown };

/**
 * Upcasts and filters the delivery's event, or each event of a batch: a batch keeps the events
 * its filter takes, and one left with none is skipped like a declined event.
 */
function prepare(state: RouteState, delivery: Delivery): Prepared {
  const { route } = state;
  const batch = route.batch !== undefined;
  const given = batch ? (delivery.events ?? [delivery.event]) : [delivery.event];
  const kept: AgentdEvent[] = [];
  for (const original of given) {
    let event = original;
    if (state.upcast !== undefined) {
      try {
        event = state.upcast(event);
      } catch (error) {
        // Upcasting is deterministic: a retry would fail the same way.
        return {
          kind: 'dead',
          reason: `the event ${original.id} cannot be brought to the version the route accepts: ${describeError(error)}`,
          error,
        };
      }
    }
    const verdict = applyFilter(route, event);
    if (verdict.run) kept.push(event);
    else if (verdict.error !== undefined)
      return {
        kind: 'dead',
        reason: `route filter threw: ${describeError(verdict.error)}`,
        error: verdict.error,
      };
  }
  if (kept.length === 0) return { kind: 'skip' };
  return batch ? { kind: 'batch', events: kept } : { kind: 'single', event: kept[0]! };
}
