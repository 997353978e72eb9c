// agentd.action.completed / agentd.action.failed: what became of an action, in the chain of the
// event that caused it. Stored only when a route listens or a run waits for one (like agentd.run.*).
import type { OutboxStore, StoredAction } from '../bus/outbox-store.js';
import { deriveEvent, type AgentdEvent } from '../core/envelope.js';

export const ACTION_COMPLETED = 'agentd.action.completed';
export const ACTION_FAILED = 'agentd.action.failed';

export type ActionOutcome =
  | { status: 'completed'; result: unknown }
  | {
      /** dead: failed for good; rejected or expired: never sent. */
      status: 'dead' | 'rejected' | 'expired';
      reason: string;
      httpStatus?: number | undefined;
      body?: string | undefined;
    };

export function actionEvents(
  store: Pick<OutboxStore, 'wantsEvent'>,
  action: StoredAction,
  outcome: ActionOutcome,
  source: string,
): AgentdEvent[] {
  const type = outcome.status === 'completed' ? ACTION_COMPLETED : ACTION_FAILED;
  // Actions of runs triggered by action events announce nothing (no echo loops).
  if (action.cause.type.startsWith('agentd.action.') || !store.wantsEvent(type)) return [];
  const { cause } = action;
  const parent: AgentdEvent = {
    specversion: '1.0',
    id: cause.id,
    source: cause.source,
    type: cause.type,
    time: new Date().toISOString(),
    correlationid: cause.correlationid,
    depth: cause.depth,
    trust: cause.trust,
    ...(cause.traceparent === undefined ? {} : { traceparent: cause.traceparent }),
  };
  const data = {
    actionId: action.id,
    key: action.key,
    sink: action.sink,
    action: action.action,
    route: action.route,
    runId: action.runId,
    eventId: cause.id,
    eventType: cause.type,
    attempts: action.attempt,
    ...(outcome.status === 'completed'
      ? { result: outcome.result }
      : {
          status: outcome.status,
          reason: outcome.reason,
          ...(outcome.httpStatus === undefined ? {} : { httpStatus: outcome.httpStatus }),
          ...(outcome.body === undefined ? {} : { body: outcome.body }),
        }),
  };
  // Ids from the action, so an announcement repeated after a crash is a duplicate; a failure
  // retried by hand fails under a new id.
  const id =
    outcome.status === 'completed'
      ? `${action.key}.completed`
      : `${action.key}.${outcome.status}.${action.errors.length}`;
  return [
    deriveEvent(
      parent,
      { id, type, subject: action.key, data, dataschema: `agentd:${type}/v1` },
      source,
    ),
  ];
}
