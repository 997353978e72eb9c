// The router: turns configured routes into subscriptions and decides whether a route takes an event.
import { DEFAULT_SUBSCRIPTION, type SubscriptionOptions } from '../bus/bus.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { ResolvedRoute } from '../core/config.js';

export const ROUTE_DEFAULTS = {
  concurrency: 8,
  timeoutMs: 5 * 60_000,
};

/** The subscription a route reads from; its lease outlives the extension interval comfortably. */
export function subscriptionFor(route: ResolvedRoute): SubscriptionOptions {
  const retries = route.retries ?? {};
  const base = DEFAULT_SUBSCRIPTION;
  return {
    types: route.types,
    maxAttempts: retries.maxAttempts ?? base.maxAttempts,
    backoff: {
      initialMs: retries.initialMs ?? base.backoff.initialMs,
      maxMs: retries.maxMs ?? base.backoff.maxMs,
      factor: retries.factor ?? base.backoff.factor,
    },
    leaseMs: base.leaseMs,
    ordering: route.ordering ?? 'key',
  };
}

export type FilterVerdict = { run: true } | { run: false; error?: unknown };

/** Applies a route's filter; a filter that throws is reported, never taken for a yes. */
export function applyFilter(route: ResolvedRoute, event: AgentdEvent): FilterVerdict {
  if (route.filter === undefined) return { run: true };
  try {
    return route.filter(event) ? { run: true } : { run: false };
  } catch (error) {
    return { run: false, error };
  }
}
