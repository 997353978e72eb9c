// The outbox's storage contract: actions recorded with a run's ack (or park), then claimed, settled
// and inspected by the dispatcher and the CLI. A bus that can record actions exposes one.
import type { AgentdEvent, Trust } from '../core/envelope.js';

/** The event that caused an action: the action's own events continue its chain. */
export interface ActionCause {
  id: string;
  source: string;
  type: string;
  correlationid: string;
  depth: number;
  trust: Trust;
  traceparent?: string;
}

/** One action as a handler recorded it; stored with the run's ack in the same transaction. */
export interface RecordedAction {
  /** Deterministic from (event, route, position): a re-run records the same key, dropped as a duplicate. */
  key: string;
  sink: string;
  action: string;
  /** JSON parameters, checked against the action's schema when recorded. */
  params: unknown;
  /** Where in the run it was recorded: `outbox#2`, `review/outbox#1`, or `key:<name>`. */
  position: string;
  route: string;
  /** The run (delivery) id: a run's actions are sent one after another, in recorded order. */
  runId: string;
  /** Actions sharing a lane (one GitHub comment, one check run) are never in flight together. */
  lane?: string;
  mode: 'send' | 'dry-run' | 'approval';
  /** For mode 'approval': when an unanswered request expires (ms since the epoch). */
  expiresAt?: number;
  cause: ActionCause;
}

export const ACTION_STATES = [
  'pending',
  'sending',
  'done',
  'dead',
  'pending-approval',
  'rejected',
  'expired',
  'dry-run',
] as const;
export type ActionState = (typeof ACTION_STATES)[number];

export interface ActionError {
  attempt: number;
  at: string;
  error: string;
  /** The HTTP status the sink answered, when it answered. */
  status?: number;
  /** The response body (truncated), for the DLQ. */
  body?: string;
}

export interface StoredAction extends RecordedAction {
  id: string;
  state: ActionState;
  /** Send attempts so far. */
  attempt: number;
  availableAt: number;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** What the sink answered (ids, URLs), once done. */
  result: unknown;
  errors: ActionError[];
  /** Why it is dead, rejected or expired. */
  reason: string | null;
  /** Who approved or rejected it. */
  decidedBy: string | null;
}

export interface ActionFilter {
  state?: ActionState;
  sink?: string;
  route?: string;
  runId?: string;
  limit?: number;
}

export interface ClaimOptions {
  max: number;
  now: number;
  leaseMs: number;
  /**
   * Called in order on each claimable action (the oldest unfinished one of its run, due now);
   * false leaves it for later (its sink is rate limited, its lane busy).
   */
  pick(action: StoredAction): boolean;
  /**
   * Undoes a `pick` whose action the store could not take after all: another dispatcher (on a
   * shared store such as NATS) claimed it between the look and the claim.
   */
  unpick?(action: StoredAction): void;
}

export interface OutboxStore {
  /** Claims due actions for sending: state 'sending', attempt + 1. */
  claim(options: ClaimOptions): Promise<StoredAction[]>;
  /** Sent: state 'done' with the sink's answer; `publish` goes out in the same transaction. */
  complete(action: StoredAction, result: unknown, publish: readonly AgentdEvent[]): Promise<void>;
  /** Failed, to be tried again at `availableAt`. */
  retry(action: StoredAction, availableAt: number, error: ActionError): Promise<void>;
  /** Failed for good: into the outbox's dead-letter queue. */
  fail(
    action: StoredAction,
    reason: string,
    error: ActionError,
    publish: readonly AgentdEvent[],
  ): Promise<void>;
  /** Actions left 'sending' by a dispatcher that died: due again now. Returns them. */
  recover(now: number): Promise<StoredAction[]>;
  /** Approval requests past their expiry: state 'expired'. Returns them; `publish` builds events. */
  expireApprovals(
    now: number,
    publish: (action: StoredAction) => AgentdEvent[],
  ): Promise<StoredAction[]>;
  /** When the next pending action comes due, if any is waiting for its time. */
  nextDueAt(): Promise<number | undefined>;
  list(filter?: ActionFilter): Promise<StoredAction[]>;
  show(id: string): Promise<StoredAction | undefined>;
  /** Approves actions waiting for approval: they are sent. Returns those approved. */
  approve(ids: readonly string[], by: string): Promise<StoredAction[]>;
  /** Rejects actions waiting for approval: never sent. */
  reject(
    ids: readonly string[],
    by: string,
    reason: string,
    publish: (action: StoredAction) => AgentdEvent[],
  ): Promise<StoredAction[]>;
  /** Sends dead actions again from attempt 1. Returns how many. */
  retryDead(ids: readonly string[] | 'all'): Promise<number>;
  /** Deletes finished actions (dead unless `states` says otherwise). */
  purge(ids: readonly string[] | 'all', states?: readonly ActionState[]): Promise<number>;
  /** True when an agentd.action.* event of this type would be read: a route or a waiting run. */
  wantsEvent(type: string): boolean;
  /** Registers a callback for when actions are recorded or released (wakes the dispatcher). */
  onChange(callback: () => void): void;
}
