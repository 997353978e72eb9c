// Internal events about runs: agentd.run.completed, agentd.run.failed and agentd.run.cancelled,
// stored only when some route listens, and never about runs that were themselves triggered by run
// events (no echo loops).
import type { Bus, Delivery } from '../bus/bus.js';
import { deriveEvent, type AgentdEvent } from '../core/envelope.js';

export interface RunOutcome {
  status: 'completed' | 'failed' | 'cancelled';
  durationMs: number;
  error?: string;
  /** Why a cancelled run was cancelled. */
  reason?: string;
  willRetry?: boolean;
  /** What the handler returned; a `usage` object on it (agent handlers) is passed on. */
  result?: unknown;
}

export function runEvents(
  bus: Bus,
  delivery: Delivery,
  route: string,
  outcome: RunOutcome,
  source: string,
): AgentdEvent[] {
  const type = `agentd.run.${outcome.status}`;
  if (delivery.event.type.startsWith('agentd.run.') || !bus.hasSubscribers(type)) return [];
  const data = {
    route,
    runId: delivery.deliveryId,
    attempt: delivery.attempt,
    eventId: delivery.event.id,
    eventSource: delivery.event.source,
    eventType: delivery.event.type,
    durationMs: Math.round(outcome.durationMs),
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
    ...(outcome.willRetry === undefined ? {} : { willRetry: outcome.willRetry }),
    ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
    ...usageOf(outcome.result),
  };
  return [deriveEvent(delivery.event, { type, data, dataschema: `agentd:${type}/v1` }, source)];
}

function usageOf(result: unknown): { usage?: unknown } {
  if (typeof result !== 'object' || result === null) return {};
  const usage = (result as { usage?: unknown }).usage;
  return typeof usage === 'object' && usage !== null ? { usage } : {};
}
