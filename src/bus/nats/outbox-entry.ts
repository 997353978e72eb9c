// One outbox action as a KV entry (`a.<id>` in the outbox bucket). The id is a number derived from
// the idempotency key, so recording a key twice is one KV create() losing to the other, and the CLI
// and API keep their numeric ids.
import { createHash } from 'node:crypto';
import type { AgentdEvent } from '../../core/envelope.js';
import type { ActionState, RecordedAction, StoredAction } from '../outbox-store.js';

export interface ActionEntry extends RecordedAction {
  id: string;
  state: ActionState;
  attempt: number;
  availableAt: number;
  /** When its run's settlement was staged (ms): a run's actions go out in (createdAt, order). */
  createdAt: number;
  /** Its place among the actions its run recorded in that settlement. */
  order: number;
  updatedAt: number;
  finishedAt: number | null;
  result: unknown;
  errors: StoredAction['errors'];
  reason: string | null;
  decidedBy: string | null;
  /** While 'sending': when the claim lapses and any dispatcher may take the action back. */
  leaseUntil?: number;
  /** agentd.action.* events of the last state change, until they are out (then removed). */
  announce?: AgentdEvent[];
}

/** States in which an action holds back the later actions of its run. */
export const OPEN_STATES: ReadonlySet<ActionState> = new Set([
  'pending',
  'sending',
  'pending-approval',
]);

export const FINISHED_STATES: readonly ActionState[] = [
  'done',
  'dead',
  'rejected',
  'expired',
  'dry-run',
];

/**
 * The action's id: 52 bits of a hash of its idempotency key (a safe integer). Two keys sharing an
 * id is a 1 in 2^52 chance per pair; recording detects it and reports it instead of dropping.
 */
export function actionId(key: string): string {
  const digest = createHash('sha256').update(key).digest('hex');
  return String(parseInt(digest.slice(0, 13), 16));
}

export const actionKey = (id: string) => `a.${id}`;

export function newEntry(action: RecordedAction, at: number, order: number): ActionEntry {
  const state: ActionState =
    action.mode === 'dry-run'
      ? 'dry-run'
      : action.mode === 'approval'
        ? 'pending-approval'
        : 'pending';
  return {
    ...action,
    id: actionId(action.key),
    state,
    attempt: 0,
    availableAt: at,
    createdAt: at,
    order,
    updatedAt: at,
    finishedAt: state === 'dry-run' ? at : null,
    result: null,
    errors: [],
    reason: null,
    decidedBy: null,
  };
}

export function toStored({
  leaseUntil: _lease,
  announce: _announce,
  order: _order,
  createdAt,
  updatedAt,
  finishedAt,
  ...rest
}: ActionEntry): StoredAction {
  return {
    ...rest,
    createdAt: new Date(createdAt).toISOString(),
    updatedAt: new Date(updatedAt).toISOString(),
    finishedAt: finishedAt === null ? null : new Date(finishedAt).toISOString(),
  };
}

/** The entry without its claim (its lease), as changed at `now`. */
export function settled({ leaseUntil: _lease, ...rest }: ActionEntry, now: number): ActionEntry {
  return { ...rest, updatedAt: now };
}

export function withoutAnnounce({ announce: _announce, ...rest }: ActionEntry): ActionEntry {
  return rest;
}

/** The events a state change announces, kept in the entry until they are out. */
export function announcing(events: readonly AgentdEvent[]): { announce?: AgentdEvent[] } {
  return events.length === 0 ? {} : { announce: [...events] };
}

/** Run order: earlier settlement first, then recorded order, then id (ties never matter). */
export function runOrder(a: ActionEntry, b: ActionEntry): number {
  return a.createdAt - b.createdAt || a.order - b.order || a.id.localeCompare(b.id);
}
