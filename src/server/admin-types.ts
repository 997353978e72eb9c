// The admin API's answers, in one place for both ends: the store queries and routes that write
// them, and the dashboard (ui/src/api.ts) that reads them. Types and constant lists only; the one
// import is the outbox store's contract, itself free of runtime imports, so the browser bundle
// pulls in nothing of the server.
import {
  ACTION_STATES,
  type ActionError,
  type ActionState,
  type StoredAction,
} from '../bus/outbox-store.js';

export type RunStatus =
  | 'queued'
  | 'retrying'
  | 'running'
  /** Parked in ctx.waitForEvent: waiting for an event (or its timeout), holding no worker slot. */
  | 'waiting'
  | 'completed'
  | 'skipped'
  | 'cancelled'
  | 'dead'
  | 'replayed';

export const RUN_STATUSES: readonly RunStatus[] = [
  'queued',
  'retrying',
  'running',
  'waiting',
  'completed',
  'skipped',
  'cancelled',
  'dead',
  'replayed',
];

export interface ErrorRecord {
  attempt: number;
  at: string;
  error: string;
}

/** A page of a list, newest first. */
export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next (older) page; null on the last one. */
  nextCursor: string | null;
}

/** A stored event's envelope (CloudEvents attributes plus agentd's extensions). */
export interface EventEnvelope {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  data?: unknown;
  data_base64?: string;
  partitionkey?: string;
  traceparent?: string;
  causationid?: string;
  correlationid: string;
  depth: number;
  trust: string;
  origin?: string;
  [extension: string]: unknown;
}

export interface EventRun {
  runId: string;
  route: string;
  status: RunStatus;
  attempt: number;
}

/** GET /api/events items; GET /api/events/:id answers one with `data`. */
export interface EventSummary {
  seq: number;
  storedAt: string;
  /** The envelope; `data` is left out of pages. */
  event: EventEnvelope;
  runs: EventRun[];
}

export interface RunRecord {
  runId: string;
  route: string;
  status: RunStatus;
  attempt: number;
  eventId: string;
  eventType: string;
  partitionkey: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  errors: ErrorRecord[];
  /** Why it was skipped, cancelled, deferred or dead-lettered, when the bus recorded why. */
  reason?: string;
}

export interface StepRecord {
  name: string;
  at: string;
  value: unknown;
}

/** What a parked run (status 'waiting') waits for: ctx.waitForEvent's step. */
export interface RunWait {
  step: string;
  /** The event type that resumes it, and the fields such an event must match. */
  type: string;
  match: unknown;
  since: string;
  /** When it resumes with a timeout instead; null: it waits for as long as it takes. */
  deadline: string | null;
}

/** GET /api/runs/:id */
export interface RunDetail extends RunRecord {
  /** Why it was dead-lettered, when it was. */
  deadReason: string | null;
  event: EventEnvelope;
  steps: StepRecord[];
  /** Set while the run is waiting. */
  wait?: RunWait;
}

/** GET /api/dlq items. */
export interface DeadLetterSummary {
  deliveryId: string;
  route: string;
  eventId: string;
  eventType: string;
  attempts: number;
  reason: string;
  errors: ErrorRecord[];
  deadAt: string;
}

// --- routes and the governor ---

/** What the store knows of a route. */
export interface RouteStatus {
  route: string;
  active: boolean;
  types: string[];
  queued: number;
  running: number;
  retrying: number;
  dead: number;
  completed: number;
  oldestQueuedAgeMs: number | null;
}

export interface BudgetAmount {
  limit: number;
  used: number;
  reserved: number;
  left: number;
}

export interface BudgetView {
  scope: string;
  window: string;
  windowStart: string;
  resetsAt: string;
  tokens?: BudgetAmount;
  costUsd?: BudgetAmount;
  /** The limit is reached: paused until the window rolls over. */
  spent: boolean;
  liftedUntil?: string;
}

export interface PauseView {
  cause: 'operator' | 'budget';
  reason: string;
  by?: string;
  since?: string;
  until?: string;
}

export interface CircuitView {
  kind: 'provider' | 'sink';
  name: string;
  state: 'closed' | 'open' | 'half-open';
  until?: string;
  failures: number;
  lastError?: string;
}

/** GET /api/routes items: the store's counts plus this process's worker and governor. */
export interface RouteInfo extends RouteStatus {
  inFlight: number;
  paused: boolean;
  pause?: PauseView | null;
  budget?: BudgetView | null;
  priority?: number;
  runsPerMinute?: number;
}

export interface RoutesAnswer {
  routes: RouteInfo[];
  /** Null where no governor runs (a daemon whose worker processes run elsewhere). */
  governor?: {
    global?: {
      concurrency: number;
      free: number;
      waiting: number;
      budget?: BudgetView;
      paused?: PauseView;
    };
    /** The loop guard's limits. */
    loop?: { maxDepth: number; maxCycles: number; maxRunsPerChain: number };
    circuits?: CircuitView[];
  } | null;
}

// --- lineage ---

export interface TokenTotals {
  input: number;
  output: number;
  total: number;
  /** Model turns the tokens came from. */
  turns: number;
}

export interface LineageStep {
  name: string;
  at: string;
  /** Time since the previous step finished (or the run started): roughly the step's duration. */
  tookMs: number | null;
  tokens?: number;
}

export interface LineageRun {
  runId: string;
  route: string;
  status: RunStatus;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  lastError: string | null;
  steps: LineageStep[];
  /** Model tokens, summed from the run's model-turn steps, when it has any. */
  tokens?: TokenTotals;
  /** Events this run emitted. */
  emitted: LineageEvent[];
}

export interface LineageEvent {
  id: string;
  type: string;
  source: string;
  seq: number;
  storedAt: string;
  runs: LineageRun[];
  /** Events caused by this one that no single run can be credited with. */
  caused: LineageEvent[];
}

/** GET /api/events/:id/lineage */
export interface Lineage {
  root: LineageEvent;
  /** Events in the tree. */
  events: number;
  /** True when the chain was larger than the limit and the tree was cut. */
  truncated: boolean;
}

// --- the live stream ---

export type LiveRunStatus =
  'running' | 'completed' | 'skipped' | 'retrying' | 'dead' | 'queued' | 'waiting' | 'cancelled';

/** A run status change, as GET /api/stream sends them (`runs` messages). */
export interface RunChange {
  runId: string;
  route: string;
  eventId: string;
  status: LiveRunStatus;
  attempt: number;
  at: number;
}

// --- the outbox (/api/outbox) ---

// The states and error records are the outbox store's own (src/bus/outbox-store.ts, free of
// runtime imports), re-exported so the API and the dashboard cannot drift from the store.
export { ACTION_STATES };
export type { ActionState, ActionError as ActionErrorView };

/** One outbox action as GET /api/outbox lists it: the store's record, sent as JSON. */
export type OutboxAction = StoredAction;

/** GET /api/whoami */
export interface Whoami {
  scope: 'admin' | 'read';
  node: string;
}
