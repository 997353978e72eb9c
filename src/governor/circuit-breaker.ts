// A circuit breaker for one provider or outbox sink: after `failures` failures in a row the
// circuit opens and calls are not made for `coolDownMs`; then one trial call decides whether it
// closes again. Only the service's own trouble counts (5xx, connection errors, timeouts): a 4xx is
// the caller's fault and a 429 is the rate limiter's business, so both leave the count alone.
import type { Clock } from '../core/clock.js';
import { AgentdError, describeError } from '../core/errors.js';

export type CircuitKind = 'provider' | 'sink';
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitOptions {
  /** Failures in a row that open the circuit. Default 5. */
  failures: number;
  /** How long an open circuit refuses calls before it lets one trial through. Default 30 s. */
  coolDownMs: number;
}

export const CIRCUIT_DEFAULTS: CircuitOptions = { failures: 5, coolDownMs: 30_000 };

/**
 * While a trial call is out, other callers are told to come back after this long (at most the
 * cool-down): the trial usually settles well within it, and a caller is never held in process.
 */
export const HALF_OPEN_RETRY_MS = 5_000;

/** What `agentd.circuit.opened` / `agentd.circuit.closed` carry. */
export interface CircuitTransition {
  to: 'open' | 'closed';
  kind: CircuitKind;
  name: string;
  /** Failures in a row: those that opened it, or (closing) those the successful trial ended. */
  failures: number;
  coolDownMs: number;
  lastError?: string;
  /** When it changed (ms since the epoch, by the breaker's clock). */
  at: number;
}

/** One circuit as `agentd status` and the admin API show it. */
export interface CircuitSnapshot {
  kind: CircuitKind;
  name: string;
  state: CircuitState;
  /** While open: when the next trial may go (ISO 8601). */
  until?: string;
  /** Failures in a row so far. */
  failures: number;
  lastError?: string;
}

/** A call let through: report how it ended exactly once (further reports are ignored). */
export interface CircuitTicket {
  readonly allowed: true;
  /** True for the one call that decides whether a half-open circuit closes. */
  readonly trial: boolean;
  succeeded(): void;
  /** The service failed (5xx, connection error, timeout). */
  failed(error: unknown): void;
  /** Neither: a 4xx, a 429, or the caller gave up. A trial slot is freed for the next call. */
  released(): void;
}

export type CircuitPass =
  CircuitTicket | { readonly allowed: false; readonly retryAfterMs: number };

export type TransitionListener = (transition: CircuitTransition) => void;

export class CircuitBreaker {
  private state: 'closed' | 'open' | 'half-open' = 'closed';
  private consecutive = 0;
  private openUntil = 0;
  private trialOut = false;
  private lastError: string | undefined;

  constructor(
    readonly kind: CircuitKind,
    readonly name: string,
    private readonly options: CircuitOptions & { clock: Clock; onTransition?: TransitionListener },
  ) {
    if (!(Number.isInteger(options.failures) && options.failures > 0))
      throw new RangeError(`circuit ${kind} ${name}: failures must be a positive integer`);
    if (!(Number.isFinite(options.coolDownMs) && options.coolDownMs > 0))
      throw new RangeError(`circuit ${kind} ${name}: coolDownMs must be a positive number`);
  }

  /**
   * How long before a call could pass (0: now). Takes nothing: callers about to wait for
   * something else (a rate limit) look first, so they do not queue for a refused call.
   */
  blockedForMs(): number {
    const now = this.options.clock.now();
    if (this.state === 'open') return Math.max(0, this.openUntil - now);
    if (this.state === 'half-open' && this.trialOut) return this.halfOpenRetryMs();
    return 0;
  }

  /** Lets a call through (with a ticket to report its end on) or says how long to wait. */
  tryPass(): CircuitPass {
    const now = this.options.clock.now();
    if (this.state === 'open') {
      if (now < this.openUntil) return { allowed: false, retryAfterMs: this.openUntil - now };
      this.state = 'half-open';
    }
    if (this.state === 'closed') return this.ticket(false);
    if (this.trialOut) return { allowed: false, retryAfterMs: this.halfOpenRetryMs() };
    this.trialOut = true;
    return this.ticket(true);
  }

  /** When an open circuit lets its next trial through; undefined unless open. */
  reopensAt(): number | undefined {
    return this.state === 'open' ? this.openUntil : undefined;
  }

  snapshot(): CircuitSnapshot {
    const now = this.options.clock.now();
    const cooled = this.state === 'open' && now >= this.openUntil;
    return {
      kind: this.kind,
      name: this.name,
      state: cooled ? 'half-open' : this.state,
      ...(this.state === 'open' && !cooled
        ? { until: new Date(this.openUntil).toISOString() }
        : {}),
      failures: this.consecutive,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  private ticket(trial: boolean): CircuitTicket {
    let settled = false;
    const once = (fn: () => void) => () => {
      if (settled) return;
      settled = true;
      if (trial) this.trialOut = false;
      fn();
    };
    return {
      allowed: true,
      trial,
      succeeded: once(() => this.onSuccess(trial)),
      failed: (error: unknown) => once(() => this.onFailure(trial, error))(),
      released: once(() => undefined),
    };
  }

  private onSuccess(trial: boolean): void {
    if (this.state === 'closed') {
      this.consecutive = 0;
      return;
    }
    // A call let through before the circuit opened proves little about the service now: only
    // the trial closes a circuit that is not closed.
    if (!trial) return;
    const failures = this.consecutive;
    this.state = 'closed';
    this.consecutive = 0;
    this.announce('closed', failures);
    this.lastError = undefined;
  }

  private onFailure(trial: boolean, error: unknown): void {
    this.lastError = describeError(error);
    this.consecutive++;
    if (this.state === 'closed' && this.consecutive < this.options.failures) return;
    // Late failures of calls let through before it opened do not extend the cool-down.
    if (this.state !== 'closed' && !trial) return;
    this.state = 'open';
    this.openUntil = this.options.clock.now() + this.options.coolDownMs;
    this.announce('open', this.consecutive);
  }

  private announce(to: 'open' | 'closed', failures: number): void {
    this.options.onTransition?.({
      to,
      kind: this.kind,
      name: this.name,
      failures,
      coolDownMs: this.options.coolDownMs,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      at: this.options.clock.now(),
    });
  }

  private halfOpenRetryMs(): number {
    return Math.min(this.options.coolDownMs, HALF_OPEN_RETRY_MS);
  }
}

/**
 * A call refused because its circuit is open: retryable after the rest of the cool-down. The
 * worker nacks the run with that delay (code CIRCUIT_OPEN: the run was never tried).
 */
export class CircuitOpenError extends AgentdError {
  readonly kind: CircuitKind;
  readonly circuit: string;

  constructor(kind: CircuitKind, name: string, retryAfterMs: number, cause?: unknown) {
    super(
      `${kind} ${name}: circuit open after repeated failures; not calling it for another ${Math.ceil(retryAfterMs / 1_000)} s`,
      { code: 'CIRCUIT_OPEN', retryable: true, retryAfterMs, cause },
    );
    this.kind = kind;
    this.circuit = name;
  }
}
