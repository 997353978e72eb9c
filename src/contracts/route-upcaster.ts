// Upcasting on delivery: a route that accepts version N of a contract gets every event at version N.
// An older stored event has its data run through the type's upcasters (v1 -> v2 -> ... -> N) and
// checked against version N before the route's filter and handler see it.
import type { AgentdEvent } from '../core/envelope.js';
import { NonRetryableError } from '../core/errors.js';
import type { EventTypeDefinition } from '../core/event-type.js';
import { describeIssues } from '../core/ingest-gate.js';
import type { RouteDefinition } from '../core/route.js';
import { dataIssues } from './data-issues.js';
import type { TypeRegistry } from './type-registry.js';

export type EventUpcast = (event: AgentdEvent) => AgentdEvent;

/**
 * The upcast a route's deliveries go through, or undefined for a route that accepts no version.
 * Throws at start for a version no registered type has, so a typo fails the daemon's start.
 */
export function upcasterFor(
  route: Pick<RouteDefinition, 'accepts'> & { name: string },
  registry: TypeRegistry,
): EventUpcast | undefined {
  if (route.accepts === undefined) return undefined;
  const wanted = typeof route.accepts === 'string' ? route.accepts : route.accepts.dataschema;
  const bare = /^v([1-9]\d*)$/.exec(wanted);
  if (bare !== null) {
    const version = Number(bare[1]);
    return (event) => upcast(event, registry, undefined, version);
  }
  const parsed = registry.parseDataschema(wanted);
  const type = parsed === undefined ? undefined : registry.get(parsed.name);
  if (parsed === undefined || type === undefined || parsed.version > type.latest)
    throw new Error(
      `route ${route.name}: accepts "${wanted}", but no registered event type has that version` +
        (type === undefined ? '' : ` (${type.name} has v1 to v${type.latest})`) +
        "; add the type to the config's `types`",
    );
  return (event) => upcast(event, registry, type, parsed.version);
}

function upcast(
  event: AgentdEvent,
  registry: TypeRegistry,
  wanted: EventTypeDefinition | undefined,
  target: number,
): AgentdEvent {
  const named = event.dataschema === undefined ? undefined : registry.resolve(event.dataschema);
  // An event naming no version of a registered type was stored before the type had a contract:
  // it is taken as v1, and checked, since nothing checked it at ingest.
  const type = named?.type ?? registry.forType(event.type);
  if (type === undefined) {
    if (wanted === undefined) return event;
    throw new NonRetryableError(
      `the route accepts ${wanted.name}/v${target}, but ${event.type} has no contract`,
    );
  }
  if (wanted !== undefined && type !== wanted && type.name !== wanted.name)
    throw new NonRetryableError(
      `the route accepts ${wanted.name}/v${target}, but this event is ${type.name}`,
    );
  if (target > type.latest)
    throw new NonRetryableError(
      `the route accepts v${target}, but ${type.name} has v1 to v${type.latest}`,
    );
  const from = named?.version ?? 1;
  if (from === target && named !== undefined) return event;
  if (from > target)
    throw new NonRetryableError(
      `this event is ${type.name}/v${from}, newer than the v${target} the route accepts: events are never downcast, so update the route`,
    );
  let data = event.data;
  for (let version = from + 1; version <= target; version++) {
    const step = type.versions[version - 1];
    try {
      data = step?.upcast?.(data);
    } catch (error) {
      throw new NonRetryableError(
        `upcasting ${type.name} from v${version - 1} to v${version} threw: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  const checked = type.schemaOf(target).safeParse(data);
  if (!checked.success)
    throw new NonRetryableError(
      `${type.name}/v${from} upcast to v${target} does not keep v${target}: ${describeIssues(dataIssues(checked.error.issues, data))}`,
    );
  return { ...event, data, dataschema: `agentd:${type.name}/v${target}` };
}
