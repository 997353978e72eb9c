// The router: turns configured routes into subscriptions and decides whether a route takes an event.
import { DEFAULT_SUBSCRIPTION, type SubscriptionOptions } from '../bus/bus.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { ResolvedRoute } from '../core/config.js';
import { routeKeyOf } from '../core/key-expression.js';

export const ROUTE_DEFAULTS = {
  concurrency: 8,
  timeoutMs: 5 * 60_000,
};

/**
 * The subscription a route reads from; its lease outlives the extension interval comfortably. The
 * governor options the bus applies at fan-out (key, fairness, singleton, cancelOn, debounce,
 * batch) are carried over; the route's one key may be given by key, singleton.key, debounce.key
 * or batch.key, and a route whose keys disagree is refused with a ValidationError naming it.
 */
export function subscriptionFor(route: ResolvedRoute): SubscriptionOptions {
  const retries = route.retries ?? {};
  const base = DEFAULT_SUBSCRIPTION;
  const key = routeKeyOf(route, route.name);
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
    ...(key === undefined ? {} : { key }),
    ...(route.fairness === undefined ? {} : { fairness: route.fairness }),
    ...(route.singleton === undefined ? {} : { singleton: route.singleton.mode }),
    ...(route.cancelOn === undefined ? {} : { cancelOn: route.cancelOn }),
    ...(route.debounce === undefined
      ? {}
      : {
          debounce: {
            waitMs: route.debounce.waitMs,
            ...(route.debounce.maxWaitMs === undefined
              ? {}
              : { maxWaitMs: route.debounce.maxWaitMs }),
          },
        }),
    ...(route.batch === undefined
      ? {}
      : { batch: { maxSize: route.batch.maxSize, maxWaitMs: route.batch.maxWaitMs } }),
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
