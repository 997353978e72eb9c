// The contracts a config puts in force: the built-in types, the types its routes accept by handle,
// and its own `types` (which override built-ins of the same name); and the ingest gate over them.
import type { ResolvedConfig } from '../core/config.js';
import type { AgentdEvent } from '../core/envelope.js';
import { ValidationError } from '../core/errors.js';
import { isEventType, type EventTypeDefinition } from '../core/event-type.js';
import { describeIssues, type GateRefusal, type IngestGate } from '../core/ingest-gate.js';
import type { Logger } from '../observe/log.js';
import { builtinTypes } from './builtin/builtin-types.js';
import { ContractGate } from './contract-gate.js';
import { TypeRegistry } from './type-registry.js';

type ContractsConfig = Pick<ResolvedConfig, 'types' | 'contracts'> & {
  routes?: readonly { accepts?: unknown }[];
};

export function registryFor(config: ContractsConfig): TypeRegistry {
  const accepted: EventTypeDefinition[] = [];
  for (const route of config.routes ?? []) {
    const eventType = (route.accepts as { eventType?: unknown } | undefined)?.eventType;
    if (isEventType(eventType)) accepted.push(eventType);
  }
  const own = config.types ?? [];
  const names = new Set<string>();
  for (const [index, type] of own.entries()) {
    if (names.has(type.name))
      throw new ValidationError(`types[${index}]: ${type.name} is declared twice; keep one`);
    names.add(type.name);
  }
  return new TypeRegistry([...builtinTypes(), ...accepted, ...own]);
}

/** The gate the bus checks events with; undefined when `contracts.validate` is false. */
export function gateFor(
  config: ContractsConfig,
  registry: TypeRegistry,
  onRefused?: (event: AgentdEvent, refusal: GateRefusal) => void,
): IngestGate | undefined {
  if (config.contracts?.validate === false) return undefined;
  return new ContractGate(registry, {
    ...(config.contracts?.unknownTypes === undefined
      ? {}
      : { unknownTypes: config.contracts.unknownTypes }),
    ...(onRefused === undefined ? {} : { onRefused }),
  });
}

/** The config's gate, logging each refusal as a warning with the event's ids and the issues. */
export function ingestGateFor(config: ContractsConfig, log?: Logger): IngestGate | undefined {
  return gateFor(
    config,
    registryFor(config),
    log === undefined
      ? undefined
      : (event, refusal) =>
          log.warn(
            {
              eventId: event.id,
              source: event.source,
              type: event.type,
              dataschema: refusal.dataschema,
              issues: describeIssues(refusal.issues),
            },
            'event quarantined: its data breaks its contract (agentd quarantine list)',
          ),
  );
}
