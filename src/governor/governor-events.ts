// The governor's announcements: agentd.budget.threshold, agentd.loop.detected and
// agentd.route.paused / resumed. Each starts a chain of its own (depth 0, its own correlation), so a
// route reacting to them is never stopped by the loop guard of the chain they report on; ids that
// must not repeat (a threshold per window) are derived from what they announce.
import { createHash } from 'node:crypto';
import { toEvent, type AgentdEvent } from '../core/envelope.js';
import type { ThresholdCrossing } from './budget-ledger.js';

export const BUDGET_THRESHOLD = 'agentd.budget.threshold';
export const LOOP_DETECTED = 'agentd.loop.detected';
export const ROUTE_PAUSED = 'agentd.route.paused';
export const ROUTE_RESUMED = 'agentd.route.resumed';

/**
 * Types (and namespaces) of the governor's and the breakers' announcements. A route that listens to
 * these only is how operators hear of a spent budget, so the global budget does not pause it.
 */
const ANNOUNCEMENTS = new Set([
  BUDGET_THRESHOLD,
  LOOP_DETECTED,
  ROUTE_PAUSED,
  ROUTE_RESUMED,
  'agentd.circuit.opened',
  'agentd.circuit.closed',
  'agentd.budget.*',
  'agentd.route.*',
  'agentd.circuit.*',
  'agentd.loop.*',
]);

/** True when every type pattern of a route names governor announcements only. */
export function hearsAnnouncementsOnly(types: readonly string[]): boolean {
  return types.length > 0 && types.every((type) => ANNOUNCEMENTS.has(type));
}

const internal = (source: string, input: Parameters<typeof toEvent>[0]): AgentdEvent =>
  toEvent(input, { source, trust: 'internal' });

/** Its id names the scope, window, unit and fraction: announcing it again is a duplicate. */
export function budgetThresholdEvent(crossing: ThresholdCrossing, source: string): AgentdEvent {
  const windowStart = new Date(crossing.start).toISOString();
  const id = createHash('sha256')
    .update(
      [crossing.scope, crossing.window, windowStart, crossing.unit, crossing.fraction].join('\n'),
    )
    .digest('hex')
    .slice(0, 32);
  return internal(source, {
    id: `budget-${id}`,
    type: BUDGET_THRESHOLD,
    subject: crossing.scope,
    dataschema: `agentd:${BUDGET_THRESHOLD}/v1`,
    data: {
      scope: crossing.scope,
      window: crossing.window,
      windowStart,
      fraction: crossing.fraction,
      used: crossing.used,
      limit: crossing.limit,
      unit: crossing.unit,
    },
  });
}

/** About the stopped event: named as its cause, for the lineage view. */
export function loopDetectedEvent(
  route: string,
  stopped: AgentdEvent,
  reason: string,
  source: string,
): AgentdEvent {
  return internal(source, {
    type: LOOP_DETECTED,
    subject: route,
    causationid: stopped.id,
    dataschema: `agentd:${LOOP_DETECTED}/v1`,
    data: {
      route,
      eventId: stopped.id,
      correlationId: stopped.correlationid,
      depth: stopped.depth,
      reason,
    },
  });
}

export interface PauseChange {
  route: string;
  paused: boolean;
  cause: 'operator' | 'budget';
  reason: string;
}

export function routePauseEvent(change: PauseChange, source: string): AgentdEvent {
  const type = change.paused ? ROUTE_PAUSED : ROUTE_RESUMED;
  return internal(source, {
    type,
    subject: change.route,
    dataschema: `agentd:${type}/v1`,
    data: { route: change.route, cause: change.cause, reason: change.reason },
  });
}
