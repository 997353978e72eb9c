// The dispatcher: claims recorded actions and sends them through their sinks, beside the worker
// and never in its way (its own concurrency, its own loop). Retries back off with jitter or wait
// as the service said; actions that keep failing, or fail for good, go to the outbox's DLQ. A
// sink whose circuit is open gets nothing: its actions stay pending, no attempt spent, until the
// cool-down ends and one trial send says whether the service is back.
import { backoffDelay, type BackoffPolicy } from '../bus/bus.js';
import type { ActionError, OutboxStore, StoredAction } from '../bus/outbox-store.js';
import { describeError } from '../core/errors.js';
import type { CircuitTicket } from '../governor/circuit-breaker.js';
import type { CircuitRegistry } from '../governor/circuit-breaker-registry.js';
import type { Logger } from '../observe/log.js';
import type { OutboxObserver } from '../observe/outbox-observer.js';
import { actionEvents, type ActionOutcome } from './action-events.js';
import type { SinkGate } from './sink-gate.js';
import { SinkError, type Sink } from './sink.js';

export interface DispatcherOptions {
  store: OutboxStore;
  sinks: ReadonlyMap<string, Sink>;
  gate: SinkGate;
  /** One circuit breaker per sink (kind 'sink'); without it sinks are not circuit-broken. */
  circuits?: CircuitRegistry | undefined;
  log: Logger;
  /** The `source` of agentd.action.* events. */
  source: string;
  /** Sends in flight at once, all sinks together. Default 16. */
  concurrency?: number;
  /** Attempts before an action is dead. Default 8. */
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  /** One send's time limit. Default 30 s; per sink via `sinkTimeoutMs`. */
  timeoutMs?: number;
  sinkTimeoutMs?: ReadonlyMap<string, number>;
  /** How often the store is looked at when nothing woke the dispatcher (other processes' changes). */
  pollMs?: number;
  /** On stop, how long sends in flight may finish. Default 5 s. */
  graceMs?: number;
  /** Told about every send (metrics, spans). */
  observer?: OutboxObserver | undefined;
}

export interface Dispatcher {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Looks for work now (an approval, a retry by hand). */
  wake(): void;
}

export const DISPATCH_DEFAULTS = {
  concurrency: 16,
  maxAttempts: 8,
  backoff: { initialMs: 1_000, maxMs: 10 * 60_000, factor: 2 },
  timeoutMs: 30_000,
  pollMs: 500,
  leaseMs: 5 * 60_000,
} as const;

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  return new OutboxDispatcher(options);
}

class OutboxDispatcher implements Dispatcher {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly busyLanes = new Set<string>();
  /** Circuit tickets of actions picked in the claim under way, by action id. */
  private readonly tickets = new Map<string, CircuitTicket>();
  private readonly stopping = new AbortController();
  private readonly sends = new AbortController();
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;

  constructor(private readonly options: DispatcherOptions) {
    options.store.onChange(() => this.wake());
  }

  async start(): Promise<void> {
    // The data directory is ours: sends left 'sending' belong to a process that died mid-send.
    const recovered = await this.options.store.recover(Date.now());
    if (recovered.length > 0)
      this.options.log.warn(
        { recovered: recovered.length },
        'outbox: actions left mid-send by a previous run are due again (their sinks check for an earlier send first)',
      );
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    this.wake();
    await this.loop;
    const done = Promise.allSettled([...this.inFlight]);
    const grace = this.options.graceMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>(
      (resolve) => (timer = setTimeout(() => resolve('late'), grace)),
    );
    if ((await Promise.race([done, late])) === 'late') {
      // Abandoned sends stay 'sending' and are recovered, and checked for, at the next start.
      this.sends.abort(new Error('agentd is shutting down'));
      await done;
    }
    clearTimeout(timer);
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const { store, log } = this.options;
    const concurrency = this.options.concurrency ?? DISPATCH_DEFAULTS.concurrency;
    let nextExpirySweep = 0;
    while (!this.stopping.signal.aborted) {
      this.woken = false;
      let claimed: StoredAction[];
      this.tickets.clear();
      try {
        const now = Date.now();
        if (now >= nextExpirySweep) {
          nextExpirySweep = now + 1_000;
          await this.expireApprovals(now);
        }
        const free = concurrency - this.inFlight.size;
        claimed = await store.claim({
          max: free,
          now,
          leaseMs: DISPATCH_DEFAULTS.leaseMs,
          pick: (action) => this.admit(action),
          unpick: (action) => this.unadmit(action),
        });
      } catch (error) {
        // A trial ticket never settled would keep a half-open circuit from ever closing.
        for (const ticket of this.tickets.values()) ticket.released();
        this.tickets.clear();
        if (!this.stopping.signal.aborted)
          log.error({ err: error }, 'outbox: claiming actions failed; trying again in 1 s');
        await this.idle(1_000);
        continue;
      }
      for (const action of claimed) {
        const ticket = this.tickets.get(action.id);
        this.tickets.delete(action.id);
        this.launch(action, ticket);
      }
      if (claimed.length > 0 && this.inFlight.size < concurrency) continue;
      await this.idle(await this.nextWait());
    }
  }

  /**
   * Decides inside the claim: the sink's circuit lets a send through, its gate is open, and
   * nothing else of the lane is in flight. A refusal leaves the action pending, attempt unspent.
   */
  private admit(action: StoredAction): boolean {
    if (action.lane !== undefined && this.busyLanes.has(action.lane)) return false;
    const circuit = this.options.circuits?.breaker('sink', action.sink);
    // Looked at first, so an open circuit does not take the gate's rate tokens.
    if (circuit !== undefined && circuit.blockedForMs() > 0) return false;
    if (!this.options.gate.tryAcquire(action.sink)) return false;
    if (circuit !== undefined) {
      const pass = circuit.tryPass();
      if (!pass.allowed) {
        this.options.gate.release(action.sink);
        return false;
      }
      this.tickets.set(action.id, pass);
    }
    if (action.lane !== undefined) this.busyLanes.add(action.lane);
    return true;
  }

  private unadmit(action: StoredAction): void {
    this.options.gate.release(action.sink);
    if (action.lane !== undefined) this.busyLanes.delete(action.lane);
    this.tickets.get(action.id)?.released();
    this.tickets.delete(action.id);
  }

  private launch(action: StoredAction, ticket: CircuitTicket | undefined): void {
    const send = this.send(action, ticket)
      .catch((error: unknown) => {
        this.options.log.error(
          { actionId: action.id, sink: action.sink, route: action.route, err: error },
          'outbox: settling an action failed (it is sent again after a restart)',
        );
      })
      .finally(() => {
        this.inFlight.delete(send);
        this.options.gate.release(action.sink);
        if (action.lane !== undefined) this.busyLanes.delete(action.lane);
        this.wake();
      });
    this.inFlight.add(send);
  }

  private async send(action: StoredAction, ticket: CircuitTicket | undefined): Promise<void> {
    const { store, log, source } = this.options;
    const ids = {
      actionId: action.id,
      sink: action.sink,
      action: action.action,
      route: action.route,
      runId: action.runId,
      eventId: action.cause.id,
      attempt: action.attempt,
    };
    const sink = this.options.sinks.get(action.sink);
    const timeoutMs =
      this.options.sinkTimeoutMs?.get(action.sink) ??
      this.options.timeoutMs ??
      DISPATCH_DEFAULTS.timeoutMs;
    const signal = AbortSignal.any([this.sends.signal, AbortSignal.timeout(timeoutMs)]);
    const observed = this.options.observer?.sending(action);
    let result: unknown;
    try {
      if (sink === undefined)
        throw new SinkError(`no ${action.sink} sink is configured (outbox.${action.sink})`, {
          retryable: false,
        });
      result = await sink.deliver({
        key: action.key,
        action: action.action,
        params: action.params,
        recordedAt: Date.parse(action.createdAt),
        mayHaveSent: action.attempt > 1 || action.errors.length > 0,
        signal,
      });
    } catch (error) {
      if (this.sends.signal.aborted) {
        ticket?.released();
        observed?.settled('interrupted', error);
        return; // shutting down: left 'sending', recovered at start
      }
      if (isServiceFault(error)) ticket?.failed(error);
      else ticket?.released();
      const outcome = await this.failed(action, error, ids);
      observed?.settled(outcome, error);
      return;
    }
    ticket?.succeeded();
    const events = actionEvents(store, action, { status: 'completed', result }, source);
    await store.complete(action, result, events);
    observed?.settled('sent');
    if (log.isLevelEnabled('debug')) log.debug({ ...ids, result }, 'outbox: action sent');
  }

  private async failed(
    action: StoredAction,
    error: unknown,
    ids: Record<string, unknown>,
  ): Promise<'retry' | 'dead'> {
    const { store, log, source } = this.options;
    const failure = error instanceof SinkError ? error : undefined;
    const record: ActionError = {
      attempt: action.attempt,
      at: new Date().toISOString(),
      error: describeError(error),
      ...(failure?.status === undefined ? {} : { status: failure.status }),
      ...(failure?.body === undefined ? {} : { body: failure.body }),
    };
    const retryable = failure === undefined ? true : failure.retryable;
    const retryAfter = failure?.retryAfterMs;
    // The service said to wait: the whole sink waits, not just this action.
    if (retryAfter !== undefined && failure?.status === 429)
      this.options.gate.pause(action.sink, Date.now() + retryAfter);
    const maxAttempts = this.options.maxAttempts ?? DISPATCH_DEFAULTS.maxAttempts;
    if (retryable && action.attempt < maxAttempts) {
      const delay =
        retryAfter ??
        backoffDelay(this.options.backoff ?? DISPATCH_DEFAULTS.backoff, action.attempt);
      await store.retry(action, Date.now() + delay, record);
      log.warn({ ...ids, err: error, retryInMs: delay }, 'outbox: send failed; will retry');
      return 'retry';
    }
    const reason = retryable
      ? `failed ${action.attempt} of ${maxAttempts} attempts; last error: ${record.error}`
      : record.error;
    const outcome: ActionOutcome = {
      status: 'dead',
      reason,
      httpStatus: record.status,
      body: record.body,
    };
    await store.fail(action, reason, record, actionEvents(store, action, outcome, source));
    log.error({ ...ids, err: error }, 'outbox: action failed for good: in the outbox DLQ');
    return 'dead';
  }

  private async expireApprovals(now: number): Promise<void> {
    const { store, source, log } = this.options;
    const expired = await store.expireApprovals(now, (action) =>
      actionEvents(
        store,
        action,
        { status: 'expired', reason: 'no approval before it expired' },
        source,
      ),
    );
    for (const action of expired)
      log.warn(
        { actionId: action.id, sink: action.sink, route: action.route },
        'outbox: approval request expired; the action will not be sent',
      );
  }

  /** How long to sleep: until the next due action, a sink reopening, or the poll interval. */
  private async nextWait(): Promise<number> {
    const now = Date.now();
    const poll = this.options.pollMs ?? DISPATCH_DEFAULTS.pollMs;
    const due = await this.options.store.nextDueAt().catch(() => undefined);
    const open = this.options.gate.nextOpenAt(now);
    let wait = poll;
    // Due already but not claimed: its sink is closed (see `open`), its circuit is open (see
    // `trial`), or a send in flight holds its lane or run, and that send's end wakes the loop.
    if (due !== undefined && due > now) wait = Math.min(wait, due - now);
    if (open !== undefined) wait = Math.min(wait, Math.max(1, open - now));
    const circuits = this.options.circuits;
    // The circuits keep their own clock: the wait is measured on it.
    const trial = circuits?.nextReopenAt('sink');
    if (circuits !== undefined && trial !== undefined)
      wait = Math.min(wait, Math.max(1, trial - circuits.clock.now()));
    return wait;
  }

  private idle(ms: number): Promise<void> {
    if (this.woken || this.stopping.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

/**
 * What counts against a sink's circuit: failures that may pass (5xx, timeouts, transport errors,
 * Slack's internal_error). A 4xx is about the action itself and a 429 is the gate's business.
 */
function isServiceFault(error: unknown): boolean {
  if (!(error instanceof SinkError)) return true;
  if (!error.retryable) return false;
  const status = error.status;
  return status === undefined || status === 408 || !(status >= 400 && status < 500);
}
