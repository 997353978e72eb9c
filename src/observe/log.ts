// Structured logs: pino JSON lines by default, readable lines when attached to a terminal.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  level?: LogLevel;
  /** Human-readable output; defaults to on when stdout is a terminal. */
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

// Never let a secret or a raw webhook body reach a log line, whatever a handler passes in.
const REDACT = [
  'token',
  'secret',
  'password',
  'authorization',
  'apiKey',
  '*.token',
  '*.secret',
  '*.password',
  '*.authorization',
  '*.apiKey',
  'headers.authorization',
  'headers["x-api-key"]',
  'body',
];

export function createLogger(options: LogOptions = {}): Logger {
  const usePretty =
    options.pretty ?? (process.stdout.isTTY === true && options.destination === undefined);
  const base = { level: options.level ?? 'info', redact: { paths: REDACT, censor: '[redacted]' } };
  if (usePretty) {
    return pino(
      base,
      pretty({
        colorize: true,
        translateTime: 'HH:MM:ss.l',
        ignore: 'pid,hostname',
        sync: true,
        ...(options.destination === undefined ? {} : { destination: options.destination }),
      }),
    );
  }
  return options.destination === undefined ? pino(base) : pino(base, options.destination);
}
