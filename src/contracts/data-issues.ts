// Turns zod's issues about `data` into quarantine issues that name the field, what the contract
// expected and what the event carried, in words a person reading `agentd quarantine show` follows.
import type { z } from 'zod';
import type { DataIssue } from '../core/ingest-gate.js';
import { formatPath } from '../core/issues.js';

// A payload with thousands of bad array items says enough with the first few.
const MAX_ISSUES = 20;

export function dataIssues(issues: readonly z.core.$ZodIssue[], data: unknown): DataIssue[] {
  return issues.slice(0, MAX_ISSUES).map((issue) => {
    const got = valueAt(data, issue.path);
    return {
      path: formatPath(issue.path),
      expected: expectedOf(issue, got),
      got: describeValue(got),
      message: issue.message,
    };
  });
}

function expectedOf(issue: z.core.$ZodIssue, got: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return got === undefined ? `${issue.expected} (a required field)` : issue.expected;
    case 'invalid_value':
      return issue.values.length === 1
        ? JSON.stringify(issue.values[0])
        : `one of ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}`;
    case 'too_small':
      return bound('at least', 'more than', issue.minimum, issue.inclusive, issue.origin);
    case 'too_big':
      return bound('at most', 'less than', issue.maximum, issue.inclusive, issue.origin);
    case 'invalid_format':
      return issue.format === 'regex' && 'pattern' in issue
        ? `text matching ${String(issue.pattern)}`
        : `a ${issue.format}`;
    case 'not_multiple_of':
      return `a multiple of ${String(issue.divisor)}`;
    case 'unrecognized_keys':
      return `no fields besides those declared (not ${issue.keys.join(', ')})`;
    case 'invalid_union': {
      const options = issue.errors
        .map((branch) => branch.find((i) => i.path.length === 0))
        .filter((i): i is z.core.$ZodIssue => i !== undefined)
        .map((i) => expectedOf(i, got));
      return options.length > 0 ? [...new Set(options)].join(' or ') : issue.message;
    }
    default:
      return issue.message;
  }
}

function bound(
  closed: string,
  open: string,
  limit: number | bigint,
  inclusive: boolean | undefined,
  origin: string,
): string {
  const words = inclusive === false ? open : closed;
  const unit =
    origin === 'string' ? ' characters' : origin === 'array' || origin === 'set' ? ' items' : '';
  return `${words} ${String(limit)}${unit}`;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** `the string "abc"`, `the number 4`, `nothing`, ...: what a field held, briefly. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
    case 'number':
    case 'bigint':
      return `the number ${String(value)}`;
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}
