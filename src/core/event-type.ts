// Event types as contracts: defineEventType() declares the schema of an event type's `data` per
// version (v1, v2, ...) and the upcaster that turns data of each version into the next one.
import type { z } from 'zod';

/** A schema for `data`: any zod schema. It checks data; its transforms and defaults are not applied. */
export type DataSchema = z.ZodType;

/**
 * One version of an event type, as a route accepts it: `on(invoicePaid.v2, { handler })` gives the
 * handler `event.data` typed as v2. Structural, so routes need nothing from the contracts machinery.
 */
export interface ContractVersion<TData = unknown> {
  /** `agentd:<name>/v<N>`, the CloudEvents `dataschema` of events of this version. */
  readonly dataschema: string;
  /** The event type patterns this contract covers: the route's types. */
  readonly types: readonly string[];
  /** Never set: carries the data type for handlers. */
  readonly __data?: TData;
}

export interface VersionDefinition {
  readonly version: number;
  readonly schema: DataSchema;
  /** Turns data of the previous version into this one; absent on v1. */
  readonly upcast?: (previous: unknown) => unknown;
  /** A sample `data` of this version, for the reference page and the tests. */
  readonly example?: unknown;
}

export interface EventTypeOptions {
  /** Event type patterns the contract covers (`schedule.*`). Default: the name itself. */
  types?: string | readonly string[];
  /** One line for the reference page. */
  description?: string;
  /** A sample `data` of v1. */
  example?: unknown;
}

export interface VersionOptions {
  /** A sample `data` of this version. */
  example?: unknown;
}

const BRAND = Symbol.for('agentd.eventType');
const NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The version handles `v1`, `v2`, ... of an event type whose schemas are `S`, in order. */
export type VersionHandles<
  S extends readonly DataSchema[],
  Seen extends unknown[] = [],
> = S extends readonly [infer Head extends DataSchema, ...infer Rest extends DataSchema[]]
  ? {
      readonly [K in `v${[...Seen, unknown]['length']}`]: EventTypeVersion<z.output<Head>>;
    } & VersionHandles<Rest, [...Seen, unknown]>
  : unknown;

type Last<S extends readonly DataSchema[]> = S extends readonly [
  ...DataSchema[],
  infer L extends DataSchema,
]
  ? L
  : DataSchema;

/** An event type with its versions; `v1`, `v2`, ... are the typed handles routes accept. */
export type EventType<S extends readonly DataSchema[] = readonly DataSchema[]> =
  EventTypeDefinition<S> & VersionHandles<S>;

export class EventTypeVersion<TData = unknown> implements ContractVersion<TData> {
  readonly dataschema: string;
  declare readonly __data?: TData;

  constructor(
    readonly eventType: EventTypeDefinition,
    readonly version: number,
  ) {
    this.dataschema = `agentd:${eventType.name}/v${version}`;
  }

  get types(): readonly string[] {
    return this.eventType.types;
  }

  get schema(): DataSchema {
    return this.eventType.schemaOf(this.version);
  }
}

export class EventTypeDefinition<S extends readonly DataSchema[] = readonly DataSchema[]> {
  readonly [BRAND] = true;
  readonly types: readonly string[];

  /** Use defineEventType(). */
  constructor(
    readonly name: string,
    readonly versions: readonly VersionDefinition[],
    private readonly options: EventTypeOptions,
  ) {
    const types = options.types ?? name;
    this.types = typeof types === 'string' ? [types] : [...types];
    for (const { version } of versions)
      Object.defineProperty(this, `v${version}`, {
        value: new EventTypeVersion(this, version),
        enumerable: true,
      });
  }

  get description(): string | undefined {
    return this.options.description;
  }

  /** The newest version: what producers that name no version are checked against. */
  get latest(): number {
    return this.versions.length;
  }

  /** The schema of version `n` (1-based). */
  schemaOf(n: number): DataSchema {
    const definition = this.versions[n - 1];
    if (definition === undefined) throw new RangeError(`${this.name} has no v${n}`);
    return definition.schema;
  }

  /** The handle of version `n` (1-based), or undefined. */
  version(n: number): EventTypeVersion | undefined {
    return n >= 1 && n <= this.versions.length ? new EventTypeVersion(this, n) : undefined;
  }

  /**
   * Adds the next version and its upcaster, which turns data of the current newest version into
   * data of the new one. Stored events of older versions are upcast through the chain on delivery.
   */
  next<T extends DataSchema>(
    schema: T,
    upcast: (previous: z.output<Last<S>>) => z.input<T>,
    options: VersionOptions = {},
  ): EventType<[...S, T]> {
    const version: VersionDefinition = {
      version: this.versions.length + 1,
      schema,
      upcast: upcast as (previous: unknown) => unknown,
      ...(options.example === undefined ? {} : { example: options.example }),
    };
    return new EventTypeDefinition(
      this.name,
      [...this.versions, version],
      this.options,
    ) as EventType<[...S, T]>;
  }
}

/**
 * Declares an event type's contract with its v1 schema: `defineEventType('billing.invoice.paid',
 * z.object({ amount: z.number() }))`; add versions with `.next(schema, upcaster)`. Its `dataschema`
 * is `agentd:<name>/v<N>`. `options.types` lets one contract cover several types (`schedule.*`).
 */
export function defineEventType<T extends DataSchema>(
  name: string,
  schema: T,
  options: EventTypeOptions = {},
): EventType<[T]> {
  if (!NAME.test(name))
    throw new TypeError(
      `event type name "${name}": expected dotted segments of letters, digits, _ and -`,
    );
  const types = options.types ?? name;
  for (const type of typeof types === 'string' ? [types] : types)
    if (type.length === 0 || !/^[A-Za-z0-9_\-:/*.]+$/.test(type))
      throw new TypeError(`event type "${name}": "${type}" is not an event type pattern`);
  const v1: VersionDefinition = {
    version: 1,
    schema,
    ...(options.example === undefined ? {} : { example: options.example }),
  };
  return new EventTypeDefinition(name, [v1], options) as EventType<[T]>;
}

/** True for what defineEventType() made, even by another copy of this module (a config's import). */
export function isEventType(value: unknown): value is EventTypeDefinition {
  return (
    typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true
  );
}

/** True for a version handle (`invoicePaid.v2`). */
export function isContractVersion(value: unknown): value is ContractVersion {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ContractVersion).dataschema === 'string' &&
    Array.isArray((value as ContractVersion).types)
  );
}
