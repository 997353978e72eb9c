// Key expressions: a route's key read off an event, as a path ('data.pull_request.number') or a
// template of paths in braces ('{subject}#{data.number}'). Compiled once, evaluated at fan-out.
import { ValidationError } from './errors.js';

/** Gives the event's key, or null when a path it names is missing (the event has no key). */
export type KeyFunction = (event: unknown) => string | null;

const SEGMENT = /^[A-Za-z0-9_$-]+$/;
// Reading these through a path would reach the prototype chain rather than the event's own data.
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);

type Part = { literal: string } | { path: readonly string[] };

/** Compiles `expression`; throws a ValidationError that names what is wrong with it. */
export function compileKeyExpression(expression: string): KeyFunction {
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw keyError(expression, 'expected a path or a template, got an empty expression');
  }
  const parts =
    expression.includes('{') || expression.includes('}')
      ? parseTemplate(expression)
      : [{ path: parsePath(expression, expression) }];
  if (parts.length === 1 && 'path' in parts[0]!) {
    const path = parts[0].path;
    return (event) => keyText(readPath(event, path));
  }
  return (event) => {
    let key = '';
    for (const part of parts) {
      if ('literal' in part) {
        key += part.literal;
        continue;
      }
      const value = keyText(readPath(event, part.path));
      if (value === null) return null;
      key += value;
    }
    return key;
  };
}

/** The partitionkey, the default route key. */
export const partitionKeyOf: KeyFunction = (event) =>
  keyText((event as { partitionkey?: unknown } | null)?.partitionkey);

function parseTemplate(expression: string): Part[] {
  const parts: Part[] = [];
  let rest = expression;
  while (rest.length > 0) {
    const open = rest.indexOf('{');
    const close = rest.indexOf('}');
    if (open === -1) {
      if (close !== -1)
        throw keyError(expression, `"}" at ${where(expression, rest, close)} has no "{"`);
      parts.push({ literal: rest });
      break;
    }
    if (close !== -1 && close < open) {
      throw keyError(expression, `"}" at ${where(expression, rest, close)} has no "{"`);
    }
    if (open > 0) parts.push({ literal: rest.slice(0, open) });
    if (close === -1) {
      throw keyError(expression, `"{" at ${where(expression, rest, open)} is never closed`);
    }
    const inner = rest.slice(open + 1, close);
    if (inner.includes('{')) {
      throw keyError(expression, `braces cannot nest ("{" inside "{${inner}}")`);
    }
    parts.push({ path: parsePath(inner, expression) });
    rest = rest.slice(close + 1);
  }
  if (!parts.some((part) => 'path' in part)) {
    throw keyError(expression, 'a template needs at least one {path}');
  }
  return parts;
}

function parsePath(path: string, expression: string): string[] {
  if (path === '') throw keyError(expression, 'expected a path inside "{}", got nothing');
  const segments = path.split('.');
  for (const segment of segments) {
    if (segment === '') {
      throw keyError(
        expression,
        `path "${path}" has an empty segment (two dots, or a dot at an end)`,
      );
    }
    if (!SEGMENT.test(segment)) {
      throw keyError(
        expression,
        `segment "${segment}" of path "${path}" may hold only letters, digits, _, $ and -`,
      );
    }
    if (FORBIDDEN.has(segment)) {
      throw keyError(expression, `segment "${segment}" of path "${path}" is not allowed`);
    }
  }
  return segments;
}

function readPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

// Scalars key as their text; objects and arrays as their JSON, so equal values give equal keys.
function keyText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  return JSON.stringify(value) ?? null;
}

function where(expression: string, rest: string, index: number): string {
  return `position ${expression.length - rest.length + index + 1}`;
}

function keyError(expression: unknown, problem: string): ValidationError {
  const message = `key expression ${JSON.stringify(expression)}: ${problem}`;
  return new ValidationError(message, [message]);
}

/** The options of a route that may name its key. */
export interface RouteKeySources {
  key?: string;
  singleton?: { key?: string };
  debounce?: { key?: string };
  batch?: { key?: string };
}

/** Why the key expressions a route names disagree, or undefined when they agree. */
export function routeKeyConflict(route: RouteKeySources): string | undefined {
  const named = keySources(route);
  const distinct = new Set(named.map(([, expression]) => expression));
  if (distinct.size <= 1) return undefined;
  const list = named.map(([where, expression]) => `${where} is '${expression}'`).join(', ');
  return `the route has one key, used by ordering, fairness, singleton, debounce and batch alike, but ${list}; give the same expression, or set only key`;
}

/**
 * The route's one key expression (key, singleton.key, debounce.key or batch.key, which must agree);
 * undefined when none is given (the partitionkey). Throws a ValidationError naming the route.
 */
export function routeKeyOf(route: RouteKeySources, routeName: string): string | undefined {
  const conflict = routeKeyConflict(route);
  if (conflict !== undefined) {
    const message = `route "${routeName}": ${conflict}`;
    throw new ValidationError(message, [message]);
  }
  return keySources(route)[0]?.[1];
}

function keySources(route: RouteKeySources): [string, string][] {
  const sources: [string, string | undefined][] = [
    ['key', route.key],
    ['singleton.key', route.singleton?.key],
    ['debounce.key', route.debounce?.key],
    ['batch.key', route.batch?.key],
  ];
  return sources.filter((entry): entry is [string, string] => entry[1] !== undefined);
}
