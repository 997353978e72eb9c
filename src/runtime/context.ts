// The handler's view of one run: durable steps, buffered emits, an abort signal and a logger.
import type { Delivery, WaitOutcome, WaitRequest } from '../bus/bus.js';
import type { RecordedAction } from '../bus/outbox-store.js';
import { deriveEvent, type AgentdEvent, type EventInput } from '../core/envelope.js';
import { NonRetryableError } from '../core/errors.js';
import type { ApprovalOption, Outbox, WaitForEventOptions } from '../core/outbox-api.js';
import { chainAfter, CHAIN_EXTENSION } from '../governor/loop-guard.js';
import type { HandlerContext, RunInfo, Spent } from '../core/route.js';
import { NOOP_TRACER, type RunTracer } from '../core/run-tracer.js';
import type { Logger } from '../observe/log.js';
import type { RunSpans } from '../observe/run-spans.js';
import { traceIdOf } from '../observe/tracing.js';
import { ActionRecorder, BUS_ONLY_POLICY, type OutboxPolicy } from '../outbox/action-recorder.js';
import { checkWait, RunParked, settleWait, waitRequest, waitStepName } from './event-wait.js';

export interface RunContextOptions {
  delivery: Delivery;
  route: string;
  signal: AbortSignal;
  log: Logger;
  /** The `source` of events this harness emits. */
  source: string;
  /** The run's spans when the daemon traces: steps get spans, emits name the run as parent. */
  spans?: RunSpans;
  /**
   * Suspends the run at an unresolved wait: the worker stops waiting for the handler and parks the
   * delivery. Without it (contexts made by hand) waitForEvent throws RunParked instead.
   */
  onPark?: (wait: WaitRequest) => void;
  /** What ctx.outbox may record, and the route's dryRun and approval. */
  outbox?: {
    policy: OutboxPolicy;
    dryRun?: boolean | undefined;
    approval?: ApprovalOption | undefined;
  };
}

/** The step that keeps the outbox actions a step recorded, replayed when the step is memoized. */
const stepActions = (key: string) => `${key}@outbox`;

export class RunContext implements HandlerContext {
  readonly run: RunInfo;
  readonly trace: RunTracer;
  private readonly emitted: AgentdEvent[] = [];
  private memo: Map<string, unknown> | undefined;
  private readonly nameCounts = new Map<string, number>();
  private sealed = false;
  private logger: Logger | undefined;
  private readonly recorder: ActionRecorder;
  private parkOn: WaitRequest | undefined;
  private booked: { tokens: number; costUsd: number } | undefined;

  constructor(private readonly options: RunContextOptions) {
    const { delivery } = options;
    this.trace = options.spans ?? NOOP_TRACER;
    this.run = {
      id: delivery.deliveryId,
      route: options.route,
      attempt: delivery.attempt,
      maxAttempts: delivery.maxAttempts,
    };
    this.recorder = new ActionRecorder({
      event: delivery.event,
      route: options.route,
      runId: delivery.deliveryId,
      source: options.source,
      policy: options.outbox?.policy ?? BUS_ONLY_POLICY,
      routeDryRun: options.outbox?.dryRun,
      routeApproval: options.outbox?.approval,
      assertLive: () => this.assertLive('outbox'),
      spans: options.spans,
    });
  }

  /** Read from the options on each use: the worker makes the signal only when it is asked for. */
  get signal(): AbortSignal {
    return this.options.signal;
  }

  spend(spent: Spent): void {
    const tokens = Number.isFinite(spent.tokens) ? Math.max(0, spent.tokens) : 0;
    const cost = spent.costUsd;
    const costUsd = cost !== undefined && Number.isFinite(cost) ? Math.max(0, cost) : 0;
    const sum = this.booked ?? { tokens: 0, costUsd: 0 };
    this.booked = { tokens: sum.tokens + tokens, costUsd: sum.costUsd + costUsd };
  }

  /** What ctx.spend booked, in the `usage` shape budgets read off results; undefined if nothing. */
  get spent(): { usage: { totalTokens: number; costUsd: number } } | undefined {
    const booked = this.booked;
    return booked === undefined
      ? undefined
      : { usage: { totalTokens: booked.tokens, costUsd: booked.costUsd } };
  }

  get outbox(): Outbox {
    return this.recorder.outbox;
  }

  /** The outbox actions recorded so far, steps' included, in order. */
  get actions(): readonly RecordedAction[] {
    return this.recorder.actions;
  }

  readonly waitForEvent = async <TData = unknown>(
    type: string,
    options?: WaitForEventOptions,
  ): Promise<AgentdEvent<TData>> => {
    this.assertLive('waitForEvent');
    checkWait(type, options);
    const key = this.stepKey(waitStepName(type));
    this.memo ??= await this.options.delivery.loadSteps();
    const outcome = this.memo.get(key) as WaitOutcome | undefined;
    if (outcome !== undefined) return settleWait<TData>(outcome, type, options);
    if (this.options.delivery.park === undefined)
      throw new NonRetryableError(
        'ctx.waitForEvent: this bus cannot park runs (waits run on the embedded SQLite bus for now)',
      );
    // The first unresolved wait is the one parked on; the run resumes there.
    this.parkOn ??= waitRequest(key, type, options, Date.now());
    if (this.options.onPark === undefined) throw new RunParked(this.parkOn);
    this.options.onPark(this.parkOn);
    // Never settles: the handler stays suspended here (no catch or finally of its runs), and is
    // collected with this context once the worker has parked the run.
    return new Promise<AgentdEvent<TData>>(() => undefined);
  };

  get log(): Logger {
    this.logger ??= this.options.log.child({
      eventId: this.options.delivery.event.id,
      route: this.run.route,
      runId: this.run.id,
      traceId: this.trace.traceId ?? traceIdOf(this.options.delivery.event.traceparent),
    });
    return this.logger;
  }

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    this.assertLive('step');
    const key = this.stepKey(name);
    const spans = this.options.spans;
    if (spans === undefined) return this.runStep(key, fn);
    return spans.step(key, (span) =>
      this.runStep(key, fn, () => span.setAttribute('agentd.step.memoized', true)),
    );
  }

  private async runStep<T>(
    key: string,
    fn: () => T | Promise<T>,
    onMemoized?: () => void,
  ): Promise<T> {
    this.memo ??= await this.options.delivery.loadSteps();
    if (this.memo.has(key)) {
      onMemoized?.();
      const replayed = this.memo.get(stepActions(key));
      if (Array.isArray(replayed)) this.recorder.adopt(replayed as RecordedAction[]);
      return this.memo.get(key) as T;
    }
    this.signal.throwIfAborted();
    const { value, actions } = await this.recorder.inStep(key, fn);
    this.assertLive('step');
    // A step's actions are stored before its result: once the step is memoized, a re-run replays
    // them (the first stored list wins, like the result) instead of losing them.
    const kept =
      actions.length === 0
        ? actions
        : ((await this.options.delivery.saveStep(stepActions(key), actions)) as RecordedAction[]);
    // Handing back the stored JSON form makes a first run and a resumed one see the same value.
    const stored = await this.options.delivery.saveStep(key, value);
    this.memo.set(key, stored);
    this.recorder.adopt(kept);
    return stored as T;
  }

  /** Step names are numbered per run when repeated: `name`, `name#2`, ... (waits included). */
  private stepKey(name: string): string {
    const count = (this.nameCounts.get(name) ?? 0) + 1;
    this.nameCounts.set(name, count);
    return count === 1 ? name : `${name}#${count}`;
  }

  emit(events: EventInput | readonly EventInput[]): AgentdEvent[] {
    this.assertLive('emit');
    const parent = this.options.delivery.event;
    const list: readonly EventInput[] = Array.isArray(events) ? events : [events as EventInput];
    // The chain this run continues, with this route counted: the loop guard reads it when the
    // emitted events are delivered (depth and cycles are checked there, on every bus).
    const chain = chainAfter(parent, this.run.route);
    const derived = list.map((input) =>
      deriveEvent(parent, { ...input, [CHAIN_EXTENSION]: chain }, this.options.source),
    );
    const spans = this.options.spans;
    if (spans !== undefined) {
      // The emitting run's handler span is the new event's parent, so the trace shows the hop.
      list.forEach((input, i) => {
        if (input.traceparent === undefined)
          (derived[i] as AgentdEvent).traceparent = spans.traceparent();
      });
    }
    this.emitted.push(...derived);
    return derived;
  }

  /** Ends the run: later steps and emits are refused, the buffered emits are handed over. */
  seal(): AgentdEvent[] {
    this.sealed = true;
    return this.emitted;
  }

  private assertLive(what: string): void {
    if (this.sealed) {
      throw new NonRetryableError(
        `ctx.${what} called after run ${this.run.id} ended (a handler kept running past its timeout or abort)`,
      );
    }
  }
}
