// What fan-out needs to know about a subscription beyond its types: the governor options, checked
// once at subscribe, stored as JSON in its row, and compiled into a FanoutTarget by every process
// that publishes into the store.
import type { AgentdEvent } from '../../core/envelope.js';
import { ValidationError } from '../../core/errors.js';
import {
  compileKeyExpression,
  partitionKeyOf,
  type KeyFunction,
} from '../../core/key-expression.js';
import { eventMatches } from '../../core/outbox-api.js';
import { compilePattern, compilePatterns } from '../../core/type-pattern.js';
import type { SubscriptionOptions } from '../bus.js';

/** The governor options of SubscriptionOptions, as stored in `subscriptions.governor`. */
export type GovernorSpec = Pick<
  SubscriptionOptions,
  'key' | 'fairness' | 'singleton' | 'cancelOn' | 'debounce' | 'batch'
>;

export interface Governance {
  spec: GovernorSpec;
  /** The route key of an event: the key expression, or the partitionkey. */
  keyOf: KeyFunction;
  /** Fair-queuing share of a key; undefined when the subscription is not fair. */
  weightOf: ((key: string | null) => number) | undefined;
  /** True when the event is one of the subscription's cancelOn events. */
  cancels: ((event: AgentdEvent) => boolean) | undefined;
  /** True when events of this type may be cancelOn events (the bus must look at them). */
  watches: (type: string) => boolean;
}

export interface FanoutTarget {
  name: string;
  matches: (type: string) => boolean;
  ordering: 'key' | 'none';
  /** Undefined for a plain subscription: fan-out then takes the fast path of schema 1. */
  governance: Governance | undefined;
}

/**
 * The governor part of `options`, checked; undefined when none is set. Throws a ValidationError
 * naming the subscription and the option for anything fan-out could not apply.
 */
export function governorSpecOf(
  name: string,
  options: SubscriptionOptions,
): GovernorSpec | undefined {
  const spec: GovernorSpec = {};
  const fail = (problem: string): never => {
    const message = `subscription "${name}": ${problem}`;
    throw new ValidationError(message, [message]);
  };
  if (options.key !== undefined) {
    try {
      compileKeyExpression(options.key);
    } catch (error) {
      fail(`key: ${(error as Error).message}`);
    }
    spec.key = options.key;
  }
  if (options.fairness !== undefined) {
    for (const [key, weight] of Object.entries(options.fairness.weights ?? {}))
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0)
        fail(`fairness.weights["${key}"]: expected a positive number, got ${String(weight)}`);
    spec.fairness = options.fairness;
  }
  if (options.singleton !== undefined) {
    if (options.singleton !== 'skip' && options.singleton !== 'replace')
      fail(`singleton: expected 'skip' or 'replace', got ${JSON.stringify(options.singleton)}`);
    spec.singleton = options.singleton;
  }
  if (options.cancelOn !== undefined) {
    options.cancelOn.forEach((entry, i) => {
      try {
        compilePattern(entry.type);
      } catch (error) {
        fail(`cancelOn[${i}].type: ${(error as Error).message}`);
      }
      const match = entry.match as unknown;
      if (
        match !== undefined &&
        (typeof match !== 'object' || match === null || Array.isArray(match))
      )
        fail(`cancelOn[${i}].match: expected an object of fields to match`);
    });
    if (options.cancelOn.length > 0) spec.cancelOn = options.cancelOn;
  }
  if (options.debounce !== undefined) {
    const { waitMs, maxWaitMs } = options.debounce;
    if (!isWholeMs(waitMs) || waitMs <= 0)
      fail(`debounce.waitMs: expected a positive whole number of ms, got ${String(waitMs)}`);
    if (maxWaitMs !== undefined && (!isWholeMs(maxWaitMs) || maxWaitMs < waitMs))
      fail(
        `debounce.maxWaitMs: expected a whole number of ms of at least waitMs (${waitMs}), got ${String(maxWaitMs)}`,
      );
    spec.debounce = options.debounce;
  }
  if (options.batch !== undefined) {
    const { maxSize, maxWaitMs } = options.batch;
    if (!Number.isInteger(maxSize) || maxSize < 1)
      fail(`batch.maxSize: expected a positive integer, got ${String(maxSize)}`);
    if (!isWholeMs(maxWaitMs) || maxWaitMs < 0)
      fail(`batch.maxWaitMs: expected a whole number of ms, got ${String(maxWaitMs)}`);
    // A batch is claimed as one run: one event per run (debounce, singleton) has no meaning there.
    if (options.debounce !== undefined) fail('batch cannot be combined with debounce');
    if (options.singleton !== undefined) fail('batch cannot be combined with singleton');
    spec.batch = options.batch;
  }
  return Object.keys(spec).length === 0 ? undefined : spec;
}

/** Compiles a subscriptions row into a fan-out target. */
export function compileTarget(
  name: string,
  types: readonly string[],
  ordering: 'key' | 'none',
  spec: GovernorSpec | undefined,
): FanoutTarget {
  return {
    name,
    matches: compilePatterns(types),
    ordering,
    governance: spec === undefined ? undefined : govern(spec),
  };
}

export function parseGovernorSpec(json: string | null): GovernorSpec | undefined {
  return json === null ? undefined : (JSON.parse(json) as GovernorSpec);
}

function govern(spec: GovernorSpec): Governance {
  const weights = spec.fairness?.weights ?? {};
  const cancelOn = (spec.cancelOn ?? []).map((entry) => ({
    matches: compilePattern(entry.type),
    match: entry.match,
  }));
  return {
    spec,
    keyOf: spec.key === undefined ? partitionKeyOf : compileKeyExpression(spec.key),
    weightOf:
      spec.fairness === undefined
        ? undefined
        : (key) => (key !== null && Object.hasOwn(weights, key) ? (weights[key] as number) : 1),
    cancels:
      cancelOn.length === 0
        ? undefined
        : (event) => cancelOn.some((c) => c.matches(event.type) && eventMatches(event, c.match)),
    watches: (type) => cancelOn.some((c) => c.matches(type)),
  };
}

function isWholeMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}
