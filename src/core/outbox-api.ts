// What handlers see of the outbox: `ctx.outbox.<sink>.<action>(params, options)` and
// `ctx.waitForEvent(type, options)`. Types only; recording lives in src/outbox, waiting in the bus.
import type { AgentdEvent, EventInput } from './envelope.js';

/** How an action is to be approved: `true` uses `outbox.approval.expiresInMs` (default 24 h). */
export type ApprovalOption = boolean | { expiresInMs: number };

export interface ActionOptions {
  /**
   * A name for this action that is stable across re-runs, instead of its call position (the n-th
   * action of the run, or of the step it is recorded in). Use it when the order of calls varies.
   */
  key?: string;
  /** Hold the action as `pending-approval` until an operator approves it. */
  approval?: ApprovalOption;
  /** Record and show the action, never send it. */
  dryRun?: boolean;
}

/** What recording an action returns: its idempotency key names it in `agentd.action.*` events. */
export interface ActionRef {
  key: string;
  sink: string;
  action: string;
}

/** `owner/name`, e.g. `acme/widgets`. */
export type RepoName = string;

export interface GithubCommentParams {
  repo: RepoName;
  /** The issue or pull request number. */
  issue: number;
  body: string;
  /**
   * One comment per marker and issue: the comment carrying `<!-- agentd:<marker> -->` is edited
   * instead of a new one posted. Default: the action's idempotency key (one comment per action).
   */
  marker?: string;
}

export interface CheckRunOutput {
  title: string;
  summary: string;
  text?: string;
}

export interface GithubCheckRunParams {
  repo: RepoName;
  headSha: string;
  /** The check's name: creating or completing again finds the run of this name on headSha. */
  name: string;
  status?: 'queued' | 'in_progress';
  detailsUrl?: string;
  externalId?: string;
  output?: CheckRunOutput;
}

export interface GithubCompleteCheckRunParams extends Omit<GithubCheckRunParams, 'status'> {
  conclusion:
    'success' | 'failure' | 'neutral' | 'cancelled' | 'skipped' | 'timed_out' | 'action_required';
}

export interface GithubStatusParams {
  repo: RepoName;
  sha: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  /** The status's name; a later status of the same context replaces it. Default `agentd`. */
  context?: string;
  description?: string;
  targetUrl?: string;
}

export interface GithubLabelsParams {
  repo: RepoName;
  issue: number;
  add?: string[];
  remove?: string[];
}

export interface GithubReviewParams {
  repo: RepoName;
  pull: number;
  event: 'COMMENT' | 'APPROVE' | 'REQUEST_CHANGES';
  body?: string;
  /** The commit reviewed; default the pull request's head. */
  commitId?: string;
  comments?: { path: string; line?: number; side?: 'LEFT' | 'RIGHT'; body: string }[];
}

export interface GithubOutbox {
  /** Creates the issue or pull request comment of its marker, or edits it. */
  comment(params: GithubCommentParams, options?: ActionOptions): ActionRef;
  /** Creates the check run `name` on `headSha` (or updates the one that exists). */
  createCheckRun(params: GithubCheckRunParams, options?: ActionOptions): ActionRef;
  /** Completes the check run `name` on `headSha` (creating it if it does not exist). */
  completeCheckRun(params: GithubCompleteCheckRunParams, options?: ActionOptions): ActionRef;
  /** Sets a commit status. */
  status(params: GithubStatusParams, options?: ActionOptions): ActionRef;
  /** Adds and removes labels on an issue or pull request. */
  labels(params: GithubLabelsParams, options?: ActionOptions): ActionRef;
  /** Submits a pull request review (once per action, marked in its body). */
  review(params: GithubReviewParams, options?: ActionOptions): ActionRef;
}

export interface SlackPostMessageParams {
  channel: string;
  text: string;
  blocks?: unknown[];
  /** Reply in the thread of this message. */
  threadTs?: string;
  unfurlLinks?: boolean;
}

export interface SlackUpdateMessageParams {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
}

export interface SlackReactionParams {
  channel: string;
  /** The message's `ts`. */
  ts: string;
  /** Emoji name without colons, e.g. `eyes`. */
  name: string;
}

export interface SlackOutbox {
  postMessage(params: SlackPostMessageParams, options?: ActionOptions): ActionRef;
  updateMessage(params: SlackUpdateMessageParams, options?: ActionOptions): ActionRef;
  addReaction(params: SlackReactionParams, options?: ActionOptions): ActionRef;
}

export interface HttpPostParams {
  /** A target named in `outbox.http.targets`. */
  target: string;
  /** The JSON body; signed with Standard Webhooks, the idempotency key as `webhook-id`. */
  body: unknown;
}

export interface HttpOutbox {
  post(params: HttpPostParams, options?: ActionOptions): ActionRef;
}

export interface BusOutbox {
  /**
   * Publishes an event in this run's chain, like ctx.emit, but as an action: ordered with the run's
   * other actions, subject to dry run and approval.
   */
  publish(event: EventInput, options?: ActionOptions): ActionRef;
}

export interface Outbox {
  readonly github: GithubOutbox;
  readonly slack: SlackOutbox;
  readonly http: HttpOutbox;
  readonly bus: BusOutbox;
}

/**
 * A pattern the awaited event must contain: every field given must be equal in the event, objects
 * compared field by field (deeply), anything else (strings, numbers, arrays) by equality.
 * E.g. `{ subject: 'C123', data: { event: { thread_ts: ts } } }`.
 */
export type EventMatch = { [field: string]: unknown };

export interface WaitForEventOptions {
  match?: EventMatch;
  /** Give up after this long: waitForEvent then throws EventWaitTimeoutError. Default: no limit. */
  timeoutMs?: number;
}

/** `ctx.waitForEvent`: durable, holds no worker slot, survives restarts. */
export type WaitForEvent = <TData = unknown>(
  type: string,
  options?: WaitForEventOptions,
) => Promise<AgentdEvent<TData>>;

/** True when `event` has every field of `match` (see EventMatch). */
export function eventMatches(event: unknown, match: EventMatch | undefined): boolean {
  if (match === undefined) return true;
  return contains(event, match);
}

function contains(value: unknown, pattern: unknown): boolean {
  if (isPlainObject(pattern)) {
    if (!isPlainObject(value)) return false;
    return Object.entries(pattern).every(([field, expected]) => contains(value[field], expected));
  }
  if (Array.isArray(pattern)) {
    return (
      Array.isArray(value) &&
      value.length === pattern.length &&
      pattern.every((item, i) => contains(value[i], item))
    );
  }
  return Object.is(value, pattern);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
