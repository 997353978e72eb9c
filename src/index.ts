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
  defineEventType,
  type ContractVersion,
  type EventType,
  type EventTypeOptions,
  type VersionOptions,
} from './core/event-type.js';
export type {
  BatchHandler,
  BatchOptions,
  BatchRouteOptions,
  Budget,
  ContractEvent,
  ContractRouteOptions,
  KeyExpression,
  RateLimit,
} from './core/route.js';
export { eventTypes } from './contracts/builtin/builtin-types.js';
export type { DataIssue } from './core/ingest-gate.js';
export type { Quarantine, QuarantinedEvent, QuarantineReplay } from './bus/quarantine.js';
/** The schema library contracts are written in, so a config's schemas and agentd's agree. */
export { z } from 'zod';
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
  BusUnavailableError,
  EventWaitTimeoutError,
} from './core/errors.js';
export type {
  Outbox,
  ActionOptions,
  ActionRef,
  ApprovalOption,
  EventMatch,
  WaitForEventOptions,
  GithubOutbox,
  GithubCommentParams,
  GithubCheckRunParams,
  GithubCompleteCheckRunParams,
  GithubStatusParams,
  GithubLabelsParams,
  GithubReviewParams,
  SlackOutbox,
  SlackPostMessageParams,
  SlackUpdateMessageParams,
  SlackReactionParams,
  HttpOutbox,
  HttpPostParams,
  BusOutbox,
} from './core/outbox-api.js';
export type { OutboxConfig } from './core/outbox-config.js';
export type { OutboxStore, StoredAction, ActionState } from './bus/outbox-store.js';
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
export { NatsBus, type NatsBusOptions } from './bus/nats/nats-bus.js';
export { createWorker, type Worker, type WorkerOptions } from './runtime/worker.js';
export { startDaemon, type Daemon, type DaemonOptions } from './app.js';
export { createLogger, type Logger } from './observe/log.js';
export { agent } from './agents/agent.js';
export type {
  AgentHandler,
  AgentOptions,
  AgentResult,
  AgentToolOptions,
  ToolRefusal,
  TrustExternalOptions,
} from './agents/agent-definition.js';
export type {
  AnthropicProviderOptions,
  CommandProviderOptions,
  OpenAIProviderOptions,
  ProviderOptions,
} from './agents/provider-options.js';
export {
  AgentLimitError,
  AgentPermissionError,
  AgentTimeoutError,
  CommandAgentError,
  ProviderError,
  ToolRefusedError,
} from './agents/agent-errors.js';
export {
  defineTool,
  type AgentTool,
  type ToolContext,
  type ToolDefinition,
} from './agents/tools/tool.js';
export type { McpServerOptions } from './agents/tools/mcp-tools.js';
export type { AgentUsage, Price } from './agents/usage.js';
export type {
  Source,
  HttpSource,
  Publish,
  WebhookRequest,
  WebhookReply,
} from './sources/source.js';
export type { SourceConfig, SourceKind } from './core/source-config.js';
export type { RejectCount, RejectCounts } from './observe/reject-counter.js';
export type { RunTracer, TraceSpan, SpanAttributes } from './core/run-tracer.js';
