// The ingest gate over the type registry: an event whose type has a contract is stored only if its
// `data` keeps the version it names (or, naming none, the newest); otherwise it is quarantined.
// Types without a contract pass unchecked unless `unknownTypes` is 'quarantine'.
import type { AgentdEvent } from '../core/envelope.js';
import type { EventTypeDefinition } from '../core/event-type.js';
import { GateRefusal, type IngestGate } from '../core/ingest-gate.js';
import { dataIssues, describeValue } from './data-issues.js';
import type { TypeRegistry } from './type-registry.js';

export interface ContractGateOptions {
  /** Events of types without a contract: stored unchecked ('pass', the default) or quarantined. */
  unknownTypes?: 'pass' | 'quarantine';
  /** Told about each refusal (the daemon logs it); runs inside the publish, so keep it quick. */
  onRefused?: (event: AgentdEvent, refusal: GateRefusal) => void;
}

export class ContractGate implements IngestGate {
  private readonly strict: boolean;

  constructor(
    readonly registry: TypeRegistry,
    private readonly options: ContractGateOptions = {},
  ) {
    this.strict = options.unknownTypes === 'quarantine';
  }

  admit(event: AgentdEvent): AgentdEvent | GateRefusal {
    const verdict = this.check(event);
    if (verdict instanceof GateRefusal) this.options.onRefused?.(event, verdict);
    return verdict;
  }

  private check(event: AgentdEvent): AgentdEvent | GateRefusal {
    const named = event.dataschema === undefined ? undefined : this.named(event.dataschema);
    if (named instanceof GateRefusal) return named;
    if (named !== undefined) return this.validate(event, named.type, named.version, false);
    // No version named (or a URI that is not agentd's): the type decides, at its newest version.
    const type = this.registry.forType(event.type);
    if (type !== undefined) return this.validate(event, type, type.latest, true);
    if (!this.strict) return event;
    return new GateRefusal(null, [
      {
        path: '(type)',
        expected: 'an event type with a contract (contracts.unknownTypes is "quarantine")',
        got: describeValue(event.type),
        message: `no contract for event type ${event.type}`,
      },
    ]);
  }

  /** The registered version a dataschema names; a refusal when the type exists but not that version. */
  private named(
    dataschema: string,
  ): { type: EventTypeDefinition; version: number } | GateRefusal | undefined {
    const parsed = this.registry.parseDataschema(dataschema);
    if (parsed === undefined) return undefined;
    const type = this.registry.get(parsed.name);
    if (type === undefined) return undefined;
    if (parsed.version <= type.latest) return { type, version: parsed.version };
    return new GateRefusal(dataschema, [
      {
        path: '(dataschema)',
        expected: `a version of ${type.name} from v1 to v${type.latest}`,
        got: describeValue(dataschema),
        message: `${type.name} has no version ${parsed.version}`,
      },
    ]);
  }

  private validate(
    event: AgentdEvent,
    type: EventTypeDefinition,
    version: number,
    stamp: boolean,
  ): AgentdEvent | GateRefusal {
    const result = type.schemaOf(version).safeParse(event.data);
    const dataschema = `agentd:${type.name}/v${version}`;
    if (!result.success)
      return new GateRefusal(dataschema, dataIssues(result.error.issues, event.data));
    // The stored event names the version it was checked against, so delivery can upcast it later.
    return stamp && event.dataschema !== dataschema ? { ...event, dataschema } : event;
  }
}
