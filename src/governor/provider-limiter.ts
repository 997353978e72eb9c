// Requests and tokens per minute for one model provider, shared by every route whose agents use
// it. A call takes a permit first (one request and its estimated tokens) and settles the real
// tokens after the response; a 429 pauses every caller of the provider, not only the one that saw
// it. Waiting is the only answer: nothing is dropped, and a caller's AbortSignal ends its wait.
import { systemClock, type CancelTimer, type Clock } from '../core/clock.js';

export interface ProviderLimits {
  requestsPerMinute?: number | undefined;
  tokensPerMinute?: number | undefined;
}

/** What one model call is about to use. */
export interface ProviderRequest {
  /** Estimated tokens, input and output together (e.g. prompt size / 4 + max output tokens). */
  tokens: number;
}

/** A call's admission: settle it once the call ended, or cancel it if the call was never made. */
export interface ProviderPermit {
  /** The call was made: `actualTokens` replace the estimate (0 for a call that failed). */
  settle(actualTokens: number): void;
  /** The call was not made after all: its request and tokens go back. */
  cancel(): void;
}

/**
 * The seam between the agents and a provider's limits. This module keeps the state in process
 * (one daemon); NatsProviderLimiter shares it through the governor's KV bucket between worker
 * processes.
 */
export interface ProviderLimiter {
  readonly name: string;
  /** Resolves once the call may go; rejects with the signal's reason if it is aborted first. */
  acquire(request: ProviderRequest, signal: AbortSignal): Promise<ProviderPermit>;
  /** The provider answered 429: no call of it starts before `until` (ms since the epoch). */
  pause(until: number): void;
  /** When a 429 pause ends, while one is in force. */
  pausedUntil(): number | undefined;
}

export const MINUTE_MS = 60_000;

/** Refuses limits that are not positive integers, naming the config field. */
export function checkProviderLimits(name: string, limits: ProviderLimits): void {
  for (const field of ['requestsPerMinute', 'tokensPerMinute'] as const) {
    const value = limits[field];
    if (value !== undefined && !(Number.isInteger(value) && value > 0))
      throw new RangeError(
        `governor.providers.${name}.${field}: expected a positive integer, got ${value}`,
      );
  }
}

/**
 * A permit that acts once, whichever of settle and cancel comes first; a settle without a usable
 * count (NaN) charges the estimate.
 */
export function permitOnce(
  estimate: number,
  apply: { settle(actualTokens: number): void; cancel(): void },
): ProviderPermit {
  let done = false;
  return {
    settle: (actualTokens) => {
      if (done) return;
      done = true;
      apply.settle(Number.isFinite(actualTokens) ? Math.max(0, actualTokens) : estimate);
    },
    cancel: () => {
      if (done) return;
      done = true;
      apply.cancel();
    },
  };
}

/** A call's estimate as whole tokens, at most a minute's worth (it waits for a full bucket). */
export function fitTokens(tokens: number, tokensPerMinute: number | undefined): number {
  const n = Number.isFinite(tokens) ? Math.max(0, Math.ceil(tokens)) : 0;
  return tokensPerMinute === undefined ? n : Math.min(n, tokensPerMinute);
}

/** A token bucket holding one minute's worth, refilled continuously (as the vendors count). */
class MinuteBucket {
  private level: number;
  private at: number;

  constructor(
    readonly capacity: number,
    now: number,
  ) {
    this.level = capacity;
    this.at = now;
  }

  /** ms until `n` are in the bucket (0: now). */
  waitFor(n: number, now: number): number {
    this.refill(now);
    return this.level >= n ? 0 : Math.ceil(((n - this.level) * MINUTE_MS) / this.capacity);
  }

  /** Takes `n` (negative gives back); the level may go below zero when a call used more than it took. */
  take(n: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.capacity, this.level - n);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.at);
    this.level = Math.min(this.capacity, this.level + (elapsed * this.capacity) / MINUTE_MS);
    this.at = now;
  }
}

interface Waiter {
  tokens: number;
  resolve: (permit: ProviderPermit) => void;
  reject: (reason: Error) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export class InProcessProviderLimiter implements ProviderLimiter {
  private readonly requests: MinuteBucket | undefined;
  private readonly tokens: MinuteBucket | undefined;
  // First come, first served: a call needing many tokens is not overtaken forever by small ones.
  private readonly queue: Waiter[] = [];
  private timer: CancelTimer | undefined;
  private pauseEnd = 0;

  constructor(
    readonly name: string,
    limits: ProviderLimits = {},
    private readonly clock: Clock = systemClock,
  ) {
    checkProviderLimits(name, limits);
    const now = clock.now();
    this.requests =
      limits.requestsPerMinute === undefined
        ? undefined
        : new MinuteBucket(limits.requestsPerMinute, now);
    this.tokens =
      limits.tokensPerMinute === undefined
        ? undefined
        : new MinuteBucket(limits.tokensPerMinute, now);
  }

  async acquire(request: ProviderRequest, signal: AbortSignal): Promise<ProviderPermit> {
    signal.throwIfAborted();
    const tokens = this.fit(request.tokens);
    if (this.queue.length === 0 && this.waitMs(tokens, this.clock.now()) === 0)
      return this.grant(tokens);
    return new Promise<ProviderPermit>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          reject(signal.reason as Error);
          this.drain();
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.drain();
    });
  }

  pause(until: number): void {
    if (until <= this.pauseEnd) return;
    this.pauseEnd = until;
    this.drain();
  }

  pausedUntil(): number | undefined {
    return this.clock.now() < this.pauseEnd ? this.pauseEnd : undefined;
  }

  /** Callers waiting for a permit (for tests and status). */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * A call estimated above a whole minute's tokens could never fit: it waits for a full bucket
   * instead, and its settle charges the difference.
   */
  private fit(tokens: number): number {
    return fitTokens(tokens, this.tokens?.capacity);
  }

  private waitMs(tokens: number, now: number): number {
    return Math.max(
      0,
      this.pauseEnd - now,
      this.requests?.waitFor(1, now) ?? 0,
      this.tokens?.waitFor(tokens, now) ?? 0,
    );
  }

  private grant(tokens: number): ProviderPermit {
    const now = this.clock.now();
    this.requests?.take(1, now);
    this.tokens?.take(tokens, now);
    return permitOnce(tokens, {
      settle: (actual) => {
        this.tokens?.take(actual - tokens, this.clock.now());
        this.drain();
      },
      cancel: () => {
        const at = this.clock.now();
        this.requests?.take(-1, at);
        this.tokens?.take(-tokens, at);
        this.drain();
      },
    });
  }

  /** Grants what fits now, in order, then sleeps until the first waiter could go. */
  private drain(): void {
    this.timer?.();
    this.timer = undefined;
    let head = this.queue[0];
    while (head !== undefined && this.waitMs(head.tokens, this.clock.now()) === 0) {
      this.queue.shift();
      head.signal.removeEventListener('abort', head.onAbort);
      head.resolve(this.grant(head.tokens));
      head = this.queue[0];
    }
    if (head === undefined) return;
    const wait = this.waitMs(head.tokens, this.clock.now());
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.drain();
    }, wait);
  }
}
