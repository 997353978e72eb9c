// A route's governor options as the NATS bus applies them: which it takes (singleton, cancelOn,
// debounce on routes ordered by key), which it refuses by name (fairness, batch), and what every
// process compiles from the route registry to apply them at publish (route-publish-governance.ts)
// and at delivery (route-governor.ts). Checked with the SQLite bus's own rules (governor-spec.ts).
import type { AgentdEvent } from '../../core/envelope.js';
import { ValidationError } from '../../core/errors.js';
import { compilePatterns } from '../../core/type-pattern.js';
import type { SubscriptionOptions } from '../bus.js';
import { compileTarget, governorSpecOf, type GovernorSpec } from '../sqlite/governor-spec.js';
import { subscriptionToken } from './names.js';
import { RouteKey } from './route-key.js';

/** The options the NATS bus governs by; stored with the route in the registry. */
export type NatsGovernorSpec = Pick<GovernorSpec, 'key' | 'singleton' | 'cancelOn' | 'debounce'>;

/** Route options only the SQLite bus implements so far, refused by name at subscribe. */
const SQLITE_ONLY_OPTIONS = ['fairness', 'batch'] as const;

/**
 * The route's governor options, checked: undefined when it has none (a plain route, which pays
 * nothing for them). Throws an Error or ValidationError naming the route and the option.
 */
export function natsGovernorSpec(
  name: string,
  options: SubscriptionOptions,
): NatsGovernorSpec | undefined {
  for (const option of SQLITE_ONLY_OPTIONS)
    if (options[option] !== undefined)
      throw new Error(
        `route ${name}: the route option "${option}" needs the SQLite bus for now; the NATS bus does not implement it yet`,
      );
  const spec = governorSpecOf(name, options);
  if (spec === undefined) return undefined;
  const { singleton, cancelOn, debounce } = spec;
  if (singleton === undefined && cancelOn === undefined && debounce === undefined) return undefined;
  if (options.ordering !== 'key') {
    // The key lock is where these are decided on NATS; a route without one has nowhere to.
    const option =
      singleton !== undefined ? 'singleton' : cancelOn !== undefined ? 'cancelOn' : 'debounce';
    const message = `route ${name}: the route option "${option}" needs ordering 'key' on the NATS bus`;
    throw new ValidationError(message, [message]);
  }
  return {
    ...(spec.key === undefined ? {} : { key: spec.key }),
    ...(singleton === undefined ? {} : { singleton }),
    ...(cancelOn === undefined ? {} : { cancelOn }),
    ...(debounce === undefined ? {} : { debounce }),
  };
}

/** A governed route, compiled: what publishes and deliveries of it check. */
export interface GovernedRoute {
  readonly name: string;
  readonly subToken: string;
  readonly spec: NatsGovernorSpec;
  /** True when the event is of the route's own types. */
  readonly matches: (type: string) => boolean;
  /** The key lock token of an event (route key or partitionkey); undefined without a key. */
  readonly keyTokenOf: (event: AgentdEvent) => string | undefined;
  /** The event's key as reasons name it. */
  readonly keyOf: (event: AgentdEvent) => string | undefined;
  /** True when the event is one of the route's cancelOn events. */
  readonly cancels: (event: AgentdEvent) => boolean;
  /** True when events of this type may be cancelOn events. */
  readonly watches: (type: string) => boolean;
  /** True when a newer event may cancel the key's older runs (singleton 'replace', cancelOn). */
  readonly cancelling: boolean;
}

export function governedRoute(
  name: string,
  types: readonly string[],
  spec: NatsGovernorSpec,
): GovernedRoute {
  const governance = compileTarget(name, types, 'key', spec).governance;
  const routeKey = new RouteKey({
    ...(spec.key === undefined ? {} : { key: spec.key }),
    ordering: 'key',
  });
  const cancels = governance?.cancels;
  return {
    name,
    subToken: subscriptionToken(name),
    spec,
    matches: compilePatterns(types),
    keyTokenOf: (event) => routeKey.lockTokenOf(event),
    keyOf: (event) => routeKey.keyOf(event),
    cancels: cancels ?? (() => false),
    watches: governance?.watches ?? (() => false),
    cancelling: spec.singleton === 'replace' || cancels !== undefined,
  };
}

/** The cancel a newer event asks of its key's older runs on this route, if any. */
export function cancelAsked(route: GovernedRoute, event: AgentdEvent): string | undefined {
  // cancelOn first, as on SQLite: its reason is the one the cancelled runs show.
  if (route.cancels(event)) return `cancelOn: ${event.type} ${event.id}`;
  if (route.spec.singleton === 'replace' && route.matches(event.type))
    return `singleton: replaced by event ${event.id}`;
  return undefined;
}
