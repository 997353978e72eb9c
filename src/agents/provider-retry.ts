// Model API calls under the governor: each attempt passes the provider's circuit breaker and takes
// a permit from its shared limiter (one request plus estimated tokens), settled with the real
// usage. 429, 408/409 and 5xx are retried in process with backoff, honouring retry-after (a 429
// also pauses every caller of the provider); a wait longer than the policy allows is handed to the
// bus instead (a retryable ProviderError with retryAfterMs), so a worker slot is not held for
// minutes. An open circuit fails the call at once with a CircuitOpenError naming the cool-down.
import { sleepOn as sleep } from '../core/clock.js';
import { CircuitOpenError, type CircuitBreaker } from '../governor/circuit-breaker.js';
import type { ProviderPermit } from '../governor/provider-limiter.js';
import { providerGovernor, type ProviderGovernor } from '../governor/provider-limiter-registry.js';
import type { Logger } from '../observe/log.js';
import { ProviderError } from './agent-errors.js';
import type { ModelRequest } from './conversation.js';
import { rateLimitWaitMs, retryAfterMs } from './provider-headers.js';

export interface RetryPolicy {
  /** Retries in process after the first call. */
  maxRetries: number;
  /** Longest wait spent in process; longer retry-afters go back to the bus. */
  maxWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 4, maxWaitMs: 60_000 };

/** A provider's retry policy from its options, defaults filled in. */
export function retryPolicyFor(options: {
  maxRetries?: number;
  maxRetryWaitMs?: number;
}): RetryPolicy {
  return {
    maxRetries: options.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
    maxWaitMs: options.maxRetryWaitMs ?? DEFAULT_RETRY_POLICY.maxWaitMs,
  };
}

/** The error classes of one SDK; both vendor SDKs share this shape. */
export interface SdkErrorClasses {
  APIError: abstract new (...args: never[]) => Error;
  APIUserAbortError: abstract new (...args: never[]) => Error;
  APIConnectionError: abstract new (...args: never[]) => Error;
}

/** What the governor needs to know about one model call. */
export interface GovernedCall<T> {
  /** The provider's name: its key in `governor.providers` and its circuit's name. */
  name: string;
  /** Taken from the provider's token budget before the call (see estimateTokens). */
  estimatedTokens: number;
  /** Tokens the response says were used; they replace the estimate. */
  tokensOf(result: T): number;
}

export interface CallOptions<T> {
  policy: RetryPolicy;
  sdk: SdkErrorClasses;
  signal: AbortSignal;
  log?: Logger;
  governed: GovernedCall<T>;
  /** Default: the one the daemon installed (none: no limits, no breaker). */
  governor?: ProviderGovernor;
}

interface HttpFailure {
  status: number | undefined;
  headers: Headers | undefined;
}

/** About 4 characters a token for the prompt, plus every output token the call may produce. */
export function estimateTokens(request: ModelRequest): number {
  const chars =
    (request.system?.length ?? 0) +
    JSON.stringify(request.messages).length +
    (request.tools.length === 0 ? 0 : JSON.stringify(request.tools).length);
  return Math.ceil(chars / 4) + request.maxOutputTokens;
}

export async function callWithRetries<T>(
  provider: string,
  call: () => Promise<T>,
  options: CallOptions<T>,
): Promise<T> {
  const { policy, sdk, signal, governed } = options;
  const governor = options.governor ?? providerGovernor();
  const { clock } = governor;
  const name = governed.name;
  const label = name === provider ? provider : `${provider} ${name}`;
  const limiter = governor.limiter(name);
  const circuit = governor.circuit(name);
  for (let retry = 0; ; retry++) {
    // Looked at before queueing for a permit, so a refused call does not wait for one first.
    refuseIfOpen(circuit, name);
    const paused = limiter.pausedUntil();
    if (paused !== undefined && paused - clock.now() > policy.maxWaitMs) {
      const wait = paused - clock.now();
      throw new ProviderError(
        `${label}: rate limited (a 429 paused every call of this provider for ${Math.ceil(wait / 1000)} s, past the in-process limit)`,
        { status: 429, retryable: true, retryAfterMs: wait },
      );
    }
    const permit = await limiter.acquire({ tokens: governed.estimatedTokens }, signal);
    const pass = admitThroughCircuit(circuit, name, permit, signal);
    let result: T;
    try {
      result = await call();
    } catch (error) {
      permit.settle(0);
      if (signal.aborted || error instanceof sdk.APIUserAbortError) {
        pass?.released();
        throw signal.aborted ? signal.reason : error;
      }
      if (!(error instanceof sdk.APIError)) {
        pass?.released();
        throw error;
      }
      const failure = error as unknown as HttpFailure & Error;
      const connection = error instanceof sdk.APIConnectionError;
      const status = failure.status;
      // The service's own trouble opens the circuit; a 4xx is ours and a 429 is the limiter's.
      if (connection || status === undefined || status === 408 || status >= 500)
        pass?.failed(error);
      else pass?.released();
      const retryable = connection || isRetryableStatus(status, failure.headers);
      const now = clock.now();
      const serverWait =
        status === 429 ? rateLimitWaitMs(failure.headers, now) : retryAfterMs(failure.headers, now);
      const detail = connection ? 'connection failed' : `HTTP ${status ?? '?'}`;
      if (!retryable) {
        throw new ProviderError(`${label}: ${detail}: ${failure.message}`, {
          status,
          retryable: false,
          cause: error,
        });
      }
      const wait = serverWait ?? backoffMs(retry);
      // Every route calling this provider holds off, not only this run.
      if (status === 429) limiter.pause(now + wait);
      // This failure opened the circuit: stop now rather than spend retries on a known outage.
      refuseIfOpen(circuit, name, error);
      if (retry >= policy.maxRetries || wait > policy.maxWaitMs) {
        const why =
          retry >= policy.maxRetries
            ? `gave up after ${retry} ${retry === 1 ? 'retry' : 'retries'}`
            : `retry-after ${Math.ceil(wait / 1000)} s exceeds the in-process limit`;
        throw new ProviderError(`${label}: ${detail} (${why}): ${failure.message}`, {
          status,
          retryable: true,
          ...(serverWait === undefined ? {} : { retryAfterMs: serverWait }),
          cause: error,
        });
      }
      options.log?.warn(
        { provider: name, status, retry: retry + 1, waitMs: Math.round(wait) },
        `${label}: ${detail}; retrying in ${Math.round(wait)} ms`,
      );
      await sleep(clock, wait, signal);
      continue;
    }
    pass?.succeeded();
    permit.settle(governed.tokensOf(result));
    return result;
  }
}

function refuseIfOpen(circuit: CircuitBreaker | undefined, name: string, cause?: unknown): void {
  const blocked = circuit?.blockedForMs() ?? 0;
  if (blocked <= 0) return;
  throw new CircuitOpenError('provider', name, blocked, cause);
}

/** The circuit's ticket for this attempt; a refusal gives the permit back and fails the call. */
function admitThroughCircuit(
  circuit: CircuitBreaker | undefined,
  name: string,
  permit: ProviderPermit,
  signal: AbortSignal,
) {
  if (signal.aborted) {
    permit.cancel();
    throw signal.reason;
  }
  if (circuit === undefined) return undefined;
  const pass = circuit.tryPass();
  if (pass.allowed) return pass;
  permit.cancel();
  throw new CircuitOpenError('provider', name, pass.retryAfterMs);
}

function isRetryableStatus(status: number | undefined, headers: Headers | undefined): boolean {
  // The vendors send this to overrule the status code; both SDKs obey it too.
  const hint = headers?.get('x-should-retry');
  if (hint === 'true') return true;
  if (hint === 'false') return false;
  if (status === undefined) return true;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** 0.5 s doubling to 8 s, minus up to a quarter of jitter: the vendors' own schedule. */
function backoffMs(retry: number): number {
  return Math.min(8_000, 500 * 2 ** retry) * (1 - Math.random() * 0.25);
}
