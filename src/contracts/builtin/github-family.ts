// How GitHub's events become contracts: one per event and action (`github.<event>.<action>`, its
// `action` field required to match) or one per event without actions (`github.<event>`), with
// typed handles keyed `github<Event><Action>`.
import { z } from 'zod';
import { defineEventType, type EventType } from '../../core/event-type.js';
import type { TypeFamily } from './type-family.js';

type Camel<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<Camel<T>>}`
  : S;
type Key<
  E extends string,
  A extends string,
> = `github${Capitalize<Camel<E>>}${Capitalize<Camel<A>>}`;
type Shape = Record<string, z.ZodType>;
type ActionSchema<S extends Shape, A extends string> = z.ZodObject<
  Omit<S, 'action'> & { action: z.ZodLiteral<A> },
  z.core.$strip
>;
type Family<E extends string, S extends Shape, A extends string> = {
  readonly [K in A as Key<E, K>]: EventType<[ActionSchema<S, K>]>;
};

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** One contract per action: `github.<event>.<action>`, keyed `github<Event><Action>` in eventTypes. */
export function actions<E extends string, S extends Shape, const A extends string>(
  event: E,
  list: readonly A[],
  shape: S,
  example: Record<string, unknown>,
  summary: string,
): { named: Family<E, S, A>; family: TypeFamily } {
  const named: Record<string, EventType> = {};
  for (const action of list) {
    const schema = z.object({ ...shape, action: z.literal(action) });
    named[`github${capital(camel(event))}${capital(camel(action))}`] = defineEventType(
      `github.${event}.${action}`,
      schema,
      { description: `${summary} (${action})`, example: { action, ...example } },
    );
  }
  return {
    named: named as Family<E, S, A>,
    family: { title: `github.${event}.*`, summary, types: Object.values(named) },
  };
}

/** An event GitHub sends without actions: `github.<event>`. */
export function single<S extends Shape>(
  event: string,
  shape: S,
  example: Record<string, unknown>,
  summary: string,
): { type: EventType<[z.ZodObject<S, z.core.$strip>]>; family: TypeFamily } {
  const type = defineEventType(`github.${event}`, z.object(shape), {
    description: summary,
    example,
  });
  return { type, family: { title: `github.${event}`, summary, types: [type] } };
}
