// Retries for model API calls: 429, 408/409 and 5xx are retried in process with backoff, honouring
// retry-after; a wait longer than the policy allows is handed to the bus instead (a retryable
// ProviderError with retryAfterMs), so a worker slot is not held for minutes.
import type { Logger } from '../observe/log.js';
import { ProviderError } from './agent-errors.js';

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

interface HttpFailure {
  status: number | undefined;
  headers: Headers | undefined;
}

export async function callWithRetries<T>(
  provider: string,
  call: () => Promise<T>,
  options: { policy: RetryPolicy; sdk: SdkErrorClasses; signal: AbortSignal; log?: Logger },
): Promise<T> {
  const { policy, sdk, signal } = options;
  for (let retry = 0; ; retry++) {
    try {
      return await call();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof sdk.APIUserAbortError) throw error;
      if (!(error instanceof sdk.APIError)) throw error;
      const failure = error as unknown as HttpFailure & Error;
      const connection = error instanceof sdk.APIConnectionError;
      const status = failure.status;
      const retryable = connection || isRetryableStatus(status, failure.headers);
      const serverWait = retryAfterMs(failure.headers);
      const label = connection ? 'connection failed' : `HTTP ${status ?? '?'}`;
      if (!retryable) {
        throw new ProviderError(`${provider}: ${label}: ${failure.message}`, {
          status,
          retryable: false,
          cause: error,
        });
      }
      const wait = serverWait ?? backoffMs(retry);
      if (retry >= policy.maxRetries || wait > policy.maxWaitMs) {
        const why =
          retry >= policy.maxRetries
            ? `gave up after ${retry} ${retry === 1 ? 'retry' : 'retries'}`
            : `retry-after ${Math.ceil(wait / 1000)} s exceeds the in-process limit`;
        throw new ProviderError(`${provider}: ${label} (${why}): ${failure.message}`, {
          status,
          retryable: true,
          ...(serverWait === undefined ? {} : { retryAfterMs: serverWait }),
          cause: error,
        });
      }
      options.log?.warn(
        { provider, status, retry: retry + 1, waitMs: Math.round(wait) },
        `${provider}: ${label}; retrying in ${Math.round(wait)} ms`,
      );
      await sleep(wait, signal);
    }
  }
}

function isRetryableStatus(status: number | undefined, headers: Headers | undefined): boolean {
  // The vendors send this to overrule the status code; both SDKs obey it too.
  const hint = headers?.get('x-should-retry');
  if (hint === 'true') return true;
  if (hint === 'false') return false;
  if (status === undefined) return true;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** retry-after-ms (OpenAI, Anthropic), else retry-after in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** 0.5 s doubling to 8 s, minus up to a quarter of jitter: the vendors' own schedule. */
function backoffMs(retry: number): number {
  return Math.min(8_000, 500 * 2 ** retry) * (1 - Math.random() * 0.25);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
