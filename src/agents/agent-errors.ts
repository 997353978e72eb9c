// Agent failures, each saying whether another attempt could help: the worker reads `retryable`
// and `retryAfterMs` off them to retry, wait, or dead-letter.
import { AgentdError } from '../core/errors.js';

/** maxTurns or maxTokens reached: retrying would replay the same stored turns, so never retried. */
export class AgentLimitError extends AgentdError {
  constructor(message: string) {
    super(message, { code: 'AGENT_LIMIT', retryable: false });
  }
}

/** The agent's own timeoutMs passed; the next attempt resumes after the last finished turn. */
export class AgentTimeoutError extends AgentdError {
  constructor(agent: string, timeoutMs: number) {
    super(`agent ${agent} timed out after ${timeoutMs} ms`, {
      code: 'AGENT_TIMEOUT',
      retryable: true,
    });
  }
}

/** Something the configuration forbids for this run (e.g. a command agent on an external event). */
export class AgentPermissionError extends AgentdError {
  constructor(message: string) {
    super(message, { code: 'AGENT_PERMISSION', retryable: false });
  }
}

export interface ProviderErrorOptions {
  status: number | undefined;
  retryable: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * A model API call that failed after the in-process retries. Rate limits and 5xx stay retryable
 * (with the server's retry-after when it gave one); other 4xx are configuration or request
 * errors that another attempt would repeat.
 */
export class ProviderError extends AgentdError {
  readonly status: number | undefined;

  constructor(message: string, options: ProviderErrorOptions) {
    super(message, {
      code:
        options.status === 429
          ? 'PROVIDER_RATE_LIMITED'
          : options.retryable
            ? 'PROVIDER_UNAVAILABLE'
            : 'PROVIDER_REJECTED',
      retryable: options.retryable,
      ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
      cause: options.cause,
    });
    this.status = options.status;
  }
}

export type CommandFailure = 'exit' | 'timeout' | 'output-limit' | 'bad-output' | 'spawn';

/** A command agent (a CLI run as a child process) that did not succeed. */
export class CommandAgentError extends AgentdError {
  readonly failure: CommandFailure;
  readonly exitCode: number | undefined;

  constructor(
    message: string,
    options: { failure: CommandFailure; retryable: boolean; exitCode?: number; cause?: unknown },
  ) {
    super(message, {
      code: `COMMAND_${options.failure.toUpperCase().replace('-', '_')}`,
      retryable: options.retryable,
      cause: options.cause,
    });
    this.failure = options.failure;
    this.exitCode = options.exitCode;
  }
}

/**
 * Thrown by a tool when its permissions refuse a call (a path outside the workspace, a command
 * or host not on the allowlist). The agent loop turns it into an error result for the model and
 * records it; it never fails the run.
 */
export class ToolRefusedError extends AgentdError {
  constructor(message: string) {
    super(message, { code: 'TOOL_REFUSED', retryable: false });
  }
}
