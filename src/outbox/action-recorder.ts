// ctx.outbox: records actions for the run's ack. Each action's idempotency key is derived from
// (event, route, position), its position being the n-th action of the run — or of the step it was
// recorded in — so a re-run records the very same keys, and the store drops the repeats.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { RecordedAction } from '../bus/outbox-store.js';
import { deriveEvent, type AgentdEvent, type EventInput } from '../core/envelope.js';
import { NonRetryableError } from '../core/errors.js';
import { formatIssues } from '../core/issues.js';
import { chainAfter, CHAIN_EXTENSION } from '../governor/loop-guard.js';
import type {
  ActionOptions,
  ActionRef,
  ApprovalOption,
  BusOutbox,
  GithubOutbox,
  HttpOutbox,
  Outbox,
  SlackOutbox,
} from '../core/outbox-api.js';
import { ACTIONS } from './action-catalog.js';

/** What the daemon's config allows: set once, shared by every run. */
export interface OutboxPolicy {
  /** Sinks that can send: configured ones, and `bus`. */
  sinks: ReadonlySet<string>;
  httpTargets: ReadonlySet<string>;
  /** outbox.dryRun: record everything, send nothing. */
  dryRun: boolean;
  approvalExpiresInMs: number;
  /** False when the bus cannot record actions (then recording fails the run, explaining why). */
  recordable: boolean;
}

export const DEFAULT_APPROVAL_EXPIRY_MS = 24 * 60 * 60 * 1000;

/** The policy of a worker started without an outbox config: only `bus` actions can send. */
export const BUS_ONLY_POLICY: OutboxPolicy = {
  sinks: new Set(['bus']),
  httpTargets: new Set(),
  dryRun: false,
  approvalExpiresInMs: DEFAULT_APPROVAL_EXPIRY_MS,
  recordable: true,
};

export interface ActionRecorderOptions {
  event: AgentdEvent;
  route: string;
  runId: string;
  /** The `source` of events this harness publishes (bus actions). */
  source: string;
  policy: OutboxPolicy;
  routeDryRun?: boolean | undefined;
  routeApproval?: ApprovalOption | undefined;
  /** Throws once the run has ended. */
  assertLive(): void;
  /** The run's spans, when the daemon traces: the send's span goes under their traceparent. */
  spans?: { traceparent(): string } | undefined;
}

/** Actions recorded in one scope: the run itself (key '') or one step. */
interface Scope {
  recorder: ActionRecorder;
  key: string;
  count: number;
  actions: RecordedAction[];
}

// One storage for the process: Node 20 visits every live AsyncLocalStorage on each new promise, so
// one per run would slow everything down as runs accumulate.
const STEP_SCOPE = new AsyncLocalStorage<Scope>();

export class ActionRecorder {
  private built: Outbox | undefined;
  private readonly top: Scope = { recorder: this, key: '', count: 0, actions: [] };

  constructor(private readonly options: ActionRecorderOptions) {}

  /** ctx.outbox, made on first use (most runs never touch it). */
  get outbox(): Outbox {
    this.built ??= this.build();
    return this.built;
  }

  private build(): Outbox {
    const sink = <T>(name: string, actions: readonly string[]): T =>
      Object.freeze(
        Object.fromEntries(
          actions.map((action) => [
            action,
            (params: unknown, opts?: ActionOptions) => this.record(name, action, params, opts),
          ]),
        ),
      ) as T;
    return Object.freeze({
      github: sink<GithubOutbox>('github', Object.keys(ACTIONS.github ?? {})),
      slack: sink<SlackOutbox>('slack', Object.keys(ACTIONS.slack ?? {})),
      http: sink<HttpOutbox>('http', Object.keys(ACTIONS.http ?? {})),
      bus: sink<BusOutbox>('bus', Object.keys(ACTIONS.bus ?? {})),
    });
  }

  /** The run's actions in recorded order, steps' included. */
  get actions(): readonly RecordedAction[] {
    return this.top.actions;
  }

  /** Runs a step's body in a scope of its own; its actions are returned, not yet adopted. */
  async inStep<T>(
    key: string,
    fn: () => T | Promise<T>,
  ): Promise<{ value: T; actions: RecordedAction[] }> {
    const scope: Scope = { recorder: this, key, count: 0, actions: [] };
    const value = await STEP_SCOPE.run(scope, fn);
    return { value, actions: scope.actions };
  }

  /** Adds a finished step's actions (recorded now, or replayed from its memo) to the caller's scope. */
  adopt(actions: readonly RecordedAction[]): void {
    this.current().actions.push(...actions);
  }

  private current(): Scope {
    const scope = STEP_SCOPE.getStore();
    // A step of another run (a handler calling into a second context) is not this run's scope.
    return scope?.recorder === this ? scope : this.top;
  }

  private record(
    sink: string,
    action: string,
    params: unknown,
    opts: ActionOptions = {},
  ): ActionRef {
    this.options.assertLive();
    const { policy, event, route } = this.options;
    const where = `ctx.outbox.${sink}.${action}`;
    if (!policy.recordable)
      throw new NonRetryableError(
        `${where}: this bus cannot record outbox actions (the outbox runs on the embedded SQLite bus for now)`,
      );
    const spec = ACTIONS[sink]?.[action];
    if (spec === undefined) throw new NonRetryableError(`${where}: no such action`);

    const scope = this.current();
    scope.count++;
    const position =
      opts.key !== undefined
        ? `key:${opts.key}`
        : `${scope.key === '' ? '' : `${scope.key}/`}outbox#${scope.count}`;
    const key = idempotencyKey(event, route, position);

    const dry = policy.dryRun || this.options.routeDryRun === true || opts.dryRun === true;
    const input = sink === 'bus' ? this.busEvent(params as EventInput, key) : params;
    const parsed = spec.params.safeParse(input);
    if (!parsed.success)
      throw new NonRetryableError(`${where}: ${formatIssues(parsed.error.issues).join('; ')}`);
    if (!dry) this.assertSendable(sink, where, parsed.data);

    const approval = opts.approval ?? this.options.routeApproval;
    const mode = dry
      ? 'dry-run'
      : approval === undefined || approval === false
        ? 'send'
        : 'approval';
    const expiresInMs =
      typeof approval === 'object' ? approval.expiresInMs : policy.approvalExpiresInMs;
    const lane = spec.lane?.(parsed.data as never, key);
    const traceparent = this.options.spans?.traceparent() ?? event.traceparent;
    scope.actions.push({
      key,
      sink,
      action,
      params: parsed.data,
      position,
      route,
      runId: this.options.runId,
      mode,
      ...(mode === 'approval' ? { expiresAt: Date.now() + expiresInMs } : {}),
      ...(lane === undefined ? {} : { lane }),
      cause: {
        id: event.id,
        source: event.source,
        type: event.type,
        correlationid: event.correlationid,
        depth: event.depth,
        trust: event.trust,
        ...(traceparent === undefined ? {} : { traceparent }),
      },
    });
    return { key, sink, action };
  }

  /**
   * A bus action's event, derived now: its id comes from the key, so a re-run makes the same one.
   * Like ctx.emit, it carries the chain with this route counted, for the loop guard.
   */
  private busEvent(input: EventInput, key: string): AgentdEvent {
    if (typeof input !== 'object' || input === null)
      throw new NonRetryableError('ctx.outbox.bus.publish: expected an event { type, data, ... }');
    const { event: parent, route, source } = this.options;
    return deriveEvent(
      parent,
      { ...input, id: input.id ?? `action-${key}`, [CHAIN_EXTENSION]: chainAfter(parent, route) },
      source,
    );
  }

  private assertSendable(sink: string, where: string, params: unknown): void {
    const { policy } = this.options;
    if (!policy.sinks.has(sink))
      throw new NonRetryableError(
        `${where}: no ${sink} sink is configured (outbox.${sink} in the config); set dryRun to record it without one`,
      );
    if (sink === 'http') {
      const target = (params as { target: string }).target;
      if (!policy.httpTargets.has(target))
        throw new NonRetryableError(
          `${where}: no target "${target}" in outbox.http.targets (known: ${[...policy.httpTargets].join(', ') || 'none'})`,
        );
    }
  }
}

/** 32 hex digits of SHA-256 over the event's (source, id), the route and the position. */
export function idempotencyKey(
  event: Pick<AgentdEvent, 'source' | 'id'>,
  route: string,
  position: string,
): string {
  return createHash('sha256')
    .update(`${event.source}\n${event.id}\n${route}\n${position}`)
    .digest('hex')
    .slice(0, 32);
}
