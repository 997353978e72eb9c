// The vendor SDKs log through console by default, which would break agentd's JSON log lines;
// this hands their warnings and errors to pino instead (whose redaction covers keys and headers).
// sdkClientOptions() is what both SDK clients are built with besides their key.
import type { Logger } from '../observe/log.js';

type LogFn = (message: string, ...rest: unknown[]) => void;

export interface SdkLogger {
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
}

export function sdkLogger(log: Logger): SdkLogger {
  const child = log.child({ component: 'provider-sdk' });
  // Only the message is kept: the SDKs' extra arguments can hold request options.
  return {
    error: (message) => child.error(message),
    warn: (message) => child.warn(message),
    info: (message) => child.debug(message),
    debug: (message) => child.trace(message),
  };
}

/** Client options both vendor SDKs take alike. */
export function sdkClientOptions(
  options: { baseURL?: string | undefined; requestTimeoutMs?: number | undefined },
  log: Logger,
) {
  return {
    ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
    // agentd owns retries, so a long retry-after can go back to the bus instead of blocking.
    maxRetries: 0,
    timeout: options.requestTimeoutMs ?? 10 * 60_000,
    logger: sdkLogger(log),
    logLevel: 'warn' as const,
  };
}
