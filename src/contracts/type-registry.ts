// The type registry: every event type with a contract (built-in and the config's own), found by
// name, by `dataschema` or by event type. Lookups are memoized: ingest asks once per event.
import type { EventTypeDefinition } from '../core/event-type.js';
import { compilePattern, type TypeMatcher } from '../core/type-pattern.js';

/** A contract version an event names or is checked against. */
export interface ResolvedVersion {
  type: EventTypeDefinition;
  version: number;
}

const DATASCHEMA = /^agentd:([A-Za-z0-9_.-]+)\/v([1-9]\d{0,5})$/;
// Bounds the memo, since event types come from outside (webhook headers, posted events).
const MEMO_LIMIT = 10_000;

export class TypeRegistry {
  private readonly byName = new Map<string, EventTypeDefinition>();
  private readonly exact = new Map<string, EventTypeDefinition>();
  private readonly patterns: { matches: TypeMatcher; type: EventTypeDefinition }[] = [];
  private readonly typeMemo = new Map<string, EventTypeDefinition | null>();
  private readonly schemaMemo = new Map<string, { name: string; version: number } | null>();

  /** Later types replace earlier ones of the same name: a config's own type overrides a built-in. */
  constructor(types: readonly EventTypeDefinition[]) {
    for (const type of types) this.byName.set(type.name, type);
    for (const type of this.byName.values()) {
      for (const pattern of type.types) {
        if (pattern.split('.').some((s) => s === '*' || s === '**'))
          this.patterns.push({ matches: compilePattern(pattern), type });
        else this.exact.set(pattern, type);
      }
    }
  }

  /** Every type, in name order. */
  all(): EventTypeDefinition[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): EventTypeDefinition | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.byName.size;
  }

  /** The contract covering an event type: an exact entry first, else the first matching pattern. */
  forType(eventType: string): EventTypeDefinition | undefined {
    const memo = this.typeMemo.get(eventType);
    if (memo !== undefined) return memo ?? undefined;
    const found =
      this.exact.get(eventType) ?? this.patterns.find((p) => p.matches(eventType))?.type ?? null;
    remember(this.typeMemo, eventType, found);
    return found ?? undefined;
  }

  /**
   * The name and version an `agentd:<name>/v<N>` dataschema names; undefined for other URIs. The
   * name need not be registered (see `resolve`).
   */
  parseDataschema(dataschema: string): { name: string; version: number } | undefined {
    let memo = this.schemaMemo.get(dataschema);
    if (memo === undefined) {
      const match = DATASCHEMA.exec(dataschema);
      memo = match === null ? null : { name: match[1] as string, version: Number(match[2]) };
      remember(this.schemaMemo, dataschema, memo);
    }
    return memo ?? undefined;
  }

  /** The registered type and version a dataschema names, if both exist. */
  resolve(dataschema: string): ResolvedVersion | undefined {
    const parsed = this.parseDataschema(dataschema);
    if (parsed === undefined) return undefined;
    const type = this.byName.get(parsed.name);
    if (type === undefined || parsed.version > type.latest) return undefined;
    return { type, version: parsed.version };
  }
}

function remember<K, V>(memo: Map<K, V>, key: K, value: V): void {
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(key, value);
}
