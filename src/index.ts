// agentd's public API: what config files, handlers and embedders import.
export { defineConfig, type AgentdConfig, type ResolvedConfig } from './core/config.js';
export {
  on,
  type Handler,
  type HandlerContext,
  type RouteDefinition,
  type RouteOptions,
  type RetryOptions,
  type RunInfo,
} from './core/route.js';
export {
  toEvent,
  deriveEvent,
  type AgentdEvent,
  type EventInput,
  type Trust,
} from './core/envelope.js';
export {
  AgentdError,
  NonRetryableError,
  RetryAfterError,
  ValidationError,
  HandlerTimeoutError,
  LeaseLostError,
} from './core/errors.js';
export type {
  Bus,
  Delivery,
  Subscription,
  SubscriptionOptions,
  DeadLetter,
  DeadLetterQueue,
  PublishResult,
} from './bus/bus.js';
export { SqliteBus, type SqliteBusOptions } from './bus/sqlite/sqlite-bus.js';
export { createWorker, type Worker, type WorkerOptions } from './runtime/worker.js';
export { startDaemon, type Daemon, type DaemonOptions } from './app.js';
export { createLogger, type Logger } from './observe/log.js';
