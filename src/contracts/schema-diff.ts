// What makes a change to a version's JSON Schema breaking: a field removed, a field made required
// (or a new required one), a type narrowed (fewer types, enum values or union variants, tighter
// bounds or formats, unknown fields newly refused). Widening and new optional fields are fine.
import type { JsonSchema } from './json-schema.js';

export interface BreakingChange {
  /** `pull_request.head.sha`, `labels[]`, or `(root)`. */
  path: string;
  change: string;
}

export function breakingChanges(
  before: JsonSchema,
  after: JsonSchema,
  path = '',
): BreakingChange[] {
  const found: BreakingChange[] = [];
  const at = path === '' ? '(root)' : path;
  const report = (change: string) => found.push({ path: at, change });

  const beforeUnion = variants(before);
  const afterUnion = variants(after);
  if (beforeUnion !== undefined || afterUnion !== undefined) {
    for (const variant of beforeUnion ?? [before]) {
      const candidates = (afterUnion ?? [after]).map((v) => breakingChanges(variant, v, path));
      if (!candidates.some((changes) => changes.length === 0)) {
        if (candidates.length === 1) found.push(...(candidates[0] ?? []));
        else report(`narrowed: no variant accepts what ${describe(variant)} accepted`);
      }
    }
    return found;
  }

  const typesBefore = typeSet(before);
  const typesAfter = typeSet(after);
  if (typesAfter !== undefined) {
    if (typesBefore === undefined)
      report(`narrowed: was any type, now ${[...typesAfter].join(' | ')}`);
    else {
      const lost = [...typesBefore].filter(
        (t) => !typesAfter.has(t) && !(t === 'integer' && typesAfter.has('number')),
      );
      if (lost.length > 0)
        report(
          `narrowed: no longer accepts ${lost.join(', ')} (now ${[...typesAfter].join(' | ')})`,
        );
    }
  }
  if (Array.isArray(after.enum)) {
    const allowed = new Set((after.enum as unknown[]).map((v) => JSON.stringify(v)));
    const lost = Array.isArray(before.enum)
      ? (before.enum as unknown[]).filter((v) => !allowed.has(JSON.stringify(v)))
      : undefined;
    if (lost === undefined && before.const === undefined)
      report('narrowed: now limited to an enum');
    else if (lost !== undefined && lost.length > 0)
      report(`narrowed: no longer accepts ${lost.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  if (after.const !== undefined && JSON.stringify(after.const) !== JSON.stringify(before.const))
    report(`narrowed: now only ${JSON.stringify(after.const)}`);
  for (const key of ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties'])
    if (tighter(before[key], after[key], 'min')) report(`narrowed: ${key} ${String(after[key])}`);
  for (const key of ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties'])
    if (tighter(before[key], after[key], 'max')) report(`narrowed: ${key} ${String(after[key])}`);
  for (const key of ['pattern', 'format'])
    if (after[key] !== undefined && after[key] !== before[key])
      report(`narrowed: ${key} ${JSON.stringify(after[key])}`);

  const propsBefore = objectOf(before.properties);
  const propsAfter = objectOf(after.properties);
  for (const [name, schema] of Object.entries(propsBefore)) {
    const next = propsAfter[name];
    const field = path === '' ? name : `${path}.${name}`;
    if (next === undefined) found.push({ path: field, change: 'field removed' });
    else found.push(...breakingChanges(objectOf(schema), objectOf(next), field));
  }
  const requiredBefore = new Set(stringsOf(before.required));
  for (const name of stringsOf(after.required)) {
    if (requiredBefore.has(name)) continue;
    const field = path === '' ? name : `${path}.${name}`;
    found.push({
      path: field,
      change: name in propsBefore ? 'field made required' : 'new required field',
    });
  }
  if (after.additionalProperties === false && before.additionalProperties !== false)
    report('narrowed: fields not declared are now refused');
  if (isSchema(before.additionalProperties) && isSchema(after.additionalProperties))
    found.push(
      ...breakingChanges(before.additionalProperties, after.additionalProperties, `${path}{*}`),
    );
  if (isSchema(before.items) && isSchema(after.items))
    found.push(...breakingChanges(before.items, after.items, `${path}[]`));
  return found;
}

function variants(schema: JsonSchema): JsonSchema[] | undefined {
  const list = schema.anyOf ?? schema.oneOf;
  return Array.isArray(list) ? (list as JsonSchema[]) : undefined;
}

function typeSet(schema: JsonSchema): Set<string> | undefined {
  if (typeof schema.type === 'string') return new Set([schema.type]);
  if (Array.isArray(schema.type)) return new Set(schema.type as string[]);
  return undefined;
}

function tighter(before: unknown, after: unknown, side: 'min' | 'max'): boolean {
  if (typeof after !== 'number') return false;
  if (typeof before !== 'number') return true;
  return side === 'min' ? after > before : after < before;
}

function objectOf(value: unknown): Record<string, JsonSchema> {
  return typeof value === 'object' && value !== null ? (value as Record<string, JsonSchema>) : {};
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(schema: JsonSchema): string {
  const type = typeSet(schema);
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  return type === undefined ? 'a variant' : `the ${[...type].join(' | ')} variant`;
}
