// The agentd.dlq.added event every Bus publishes when it dead-letters a delivery, built in one
// place so both backends announce the same contract.
import type { AgentdEvent } from '../core/envelope.js';

export const DLQ_ADDED = 'agentd.dlq.added';

export interface DeadLetterFacts {
  /** The announcement's own id: callers that may announce twice pass a derived, stable one. */
  id: string;
  source: string;
  time: string;
  event: AgentdEvent;
  deliveryId: string;
  subscription: string;
  attempts: number;
  reason: string;
}

/** Whether a dead letter of `event` should be announced: never announce an announcement. */
export function shouldAnnounce(
  event: AgentdEvent,
  hasSubscribers: (type: string) => boolean,
): boolean {
  return event.type !== DLQ_ADDED && hasSubscribers(DLQ_ADDED);
}

export function dlqAddedEvent(facts: DeadLetterFacts): AgentdEvent {
  const { event } = facts;
  return {
    specversion: '1.0',
    id: facts.id,
    source: facts.source,
    type: DLQ_ADDED,
    time: facts.time,
    dataschema: 'agentd:agentd.dlq.added/v1',
    data: {
      deliveryId: facts.deliveryId,
      subscription: facts.subscription,
      eventId: event.id,
      eventSource: event.source,
      eventType: event.type,
      attempts: facts.attempts,
      reason: facts.reason,
    },
    causationid: event.id,
    correlationid: event.correlationid,
    depth: event.depth + 1,
    trust: 'internal',
    ...(event.traceparent === undefined ? {} : { traceparent: event.traceparent }),
  };
}
