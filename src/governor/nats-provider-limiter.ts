// A provider's limits shared by every worker process on NATS: requests and tokens per minute as
// two buckets of one KV entry (one compare-and-set takes a request and its tokens together), and a
// 429 pause in the same entry, so every worker on every machine holds off. Callers that do not fit
// poll again at the time the buckets say, not in a loop; there is no queue across processes, so
// unlike the in-process limiter it is not first come first served.
import { sleepOn, type Clock } from '../core/clock.js';
import type { Logger } from '../observe/log.js';
import { msUntil, type BucketSpec, type KvTokenBuckets } from './kv-token-buckets.js';
import {
  checkProviderLimits,
  fitTokens,
  MINUTE_MS,
  permitOnce,
  type ProviderLimiter,
  type ProviderLimits,
  type ProviderPermit,
  type ProviderRequest,
} from './provider-limiter.js';

export interface NatsProviderLimiterOptions {
  buckets: KvTokenBuckets;
  /** The provider's entry in the governor bucket. */
  key: string;
  clock: Clock;
  log: Logger;
}

export class NatsProviderLimiter implements ProviderLimiter {
  private readonly specs: BucketSpec[] = [];
  /** Where the requests and tokens buckets are among the specs (-1: no such limit). */
  private readonly requestsAt: number;
  private readonly tokensAt: number;
  private readonly tokensPerMinute: number | undefined;
  /** The pause as last read or set here: refreshed by every acquire, settle and cancel. */
  private pauseEnd = 0;
  private readonly now: () => number;

  constructor(
    readonly name: string,
    limits: ProviderLimits,
    private readonly options: NatsProviderLimiterOptions,
  ) {
    checkProviderLimits(name, limits);
    const add = (perMinute: number | undefined) =>
      perMinute === undefined
        ? -1
        : this.specs.push({ capacity: perMinute, periodMs: MINUTE_MS }) - 1;
    this.requestsAt = add(limits.requestsPerMinute);
    this.tokensAt = add(limits.tokensPerMinute);
    this.tokensPerMinute = limits.tokensPerMinute;
    this.now = () => options.clock.now();
  }

  async acquire(request: ProviderRequest, signal: AbortSignal): Promise<ProviderPermit> {
    signal.throwIfAborted();
    const tokens = fitTokens(request.tokens, this.tokensPerMinute);
    const take = this.amounts(1, tokens);
    for (;;) {
      const wait = await this.options.buckets.change(
        this.options.key,
        this.specs,
        this.now,
        (state) => {
          this.pauseEnd = Math.max(this.pauseEnd, state.pausedUntil);
          let wait = Math.max(0, this.pauseEnd - state.now);
          for (const [i, level] of state.levels.entries())
            wait = Math.max(wait, msUntil(level, take[i] ?? 0, this.specs[i] as BucketSpec));
          // Nothing to take (no limits): a read of the pause only, no write.
          const takes = take.some((n) => n !== 0);
          return wait > 0 || !takes ? { result: wait } : { take, result: 0 };
        },
      );
      if (wait <= 0) return this.permit(tokens);
      await sleepOn(this.options.clock, wait, signal);
    }
  }

  pause(until: number): void {
    if (until <= this.pauseEnd) return;
    this.pauseEnd = until;
    this.write({ pauseUntil: until, result: undefined }, 'storing a 429 pause');
  }

  pausedUntil(): number | undefined {
    return this.now() < this.pauseEnd ? this.pauseEnd : undefined;
  }

  private permit(tokens: number): ProviderPermit {
    return permitOnce(tokens, {
      settle: (actual) => {
        if (this.tokensAt >= 0 && actual !== tokens)
          this.write({ take: this.amounts(0, actual - tokens), result: undefined }, 'settling');
      },
      cancel: () => {
        if (this.specs.length > 0)
          this.write({ take: this.amounts(-1, -tokens), result: undefined }, 'giving back');
      },
    });
  }

  /** A take of `requests` and `tokens` laid out as the specs are. */
  private amounts(requests: number, tokens: number): number[] {
    const take = this.specs.map(() => 0);
    if (this.requestsAt >= 0) take[this.requestsAt] = requests;
    if (this.tokensAt >= 0) take[this.tokensAt] = tokens;
    return take;
  }

  /**
   * Settle, cancel and pause answer at once (the agents do not wait on them); the write goes on
   * in the background and a failure is logged: the buckets are then off by that call until they
   * refill, and a pause not stored holds only this process.
   */
  private write(step: { take?: number[]; pauseUntil?: number; result: undefined }, what: string) {
    this.options.buckets
      .change(this.options.key, this.specs, this.now, (state) => {
        this.pauseEnd = Math.max(this.pauseEnd, state.pausedUntil);
        return step;
      })
      .catch((error: unknown) =>
        this.options.log.error(
          { provider: this.name, err: error },
          `provider ${this.name}: ${what} in the shared limiter failed`,
        ),
      );
  }
}
