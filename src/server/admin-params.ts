// Query and body schemas of the admin API: a bad filter is a 400 naming the parameter and what was
// expected, never a silently empty page.
import { z } from 'zod';
import { RUN_STATUSES } from '../bus/sqlite/inspect-sql.js';
import { formatIssues } from '../core/issues.js';
import { compilePattern } from '../core/type-pattern.js';

const cursor = z
  .string()
  .regex(/^\d{1,15}$/, 'expected a cursor from a previous page')
  .transform(Number);
const limit = z
  .string()
  .regex(/^\d+$/, 'expected a whole number')
  .transform(Number)
  .pipe(z.number().min(1, 'expected at least 1').max(500, 'expected at most 500'))
  .default(50);
const status = z.enum(RUN_STATUSES as [string, ...string[]], {
  error: `expected one of ${RUN_STATUSES.join(', ')}`,
});
const time = z.string().transform((value, ctx) => {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected an ISO 8601 time or milliseconds since 1970',
    });
    return z.NEVER;
  }
  return ms;
});
const typePattern = z.string().superRefine((value, ctx) => {
  try {
    compilePattern(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});
const text = z.string().min(1).max(1_024);

export const eventsQuery = z.strictObject({
  type: typePattern.optional(),
  key: text.optional(),
  since: time.optional(),
  until: time.optional(),
  status: status.optional(),
  q: text.optional(),
  cursor: cursor.optional(),
  limit,
});

export const runsQuery = z.strictObject({
  route: text.optional(),
  status: status.optional(),
  event: text.optional(),
  cursor: cursor.optional(),
  limit,
});

export const dlqQuery = z.strictObject({
  route: text.optional(),
  type: text.optional(),
  cursor: cursor.optional(),
  limit,
});

const ids = z
  .array(z.string().regex(/^\d{1,15}$/, 'expected a dead letter id'))
  .min(1)
  .max(10_000);

/** Bulk DLQ actions: explicit ids, or a filter; `all: true` is needed to act on everything. */
export const dlqBulkBody = z
  .strictObject({
    ids: ids.optional(),
    route: text.optional(),
    type: text.optional(),
    all: z.literal(true).optional(),
    fresh: z.boolean().optional(),
  })
  .superRefine((body, ctx) => {
    const filtered = body.route !== undefined || body.type !== undefined;
    if (body.ids !== undefined && (filtered || body.all === true))
      ctx.addIssue({
        code: 'custom',
        path: ['ids'],
        message: 'expected ids or a filter, not both',
      });
    if (body.ids === undefined && !filtered && body.all !== true)
      ctx.addIssue({
        code: 'custom',
        path: ['(root)'],
        message: 'expected ids, a filter (route, type), or all: true',
      });
  });

export const replayOneBody = z.strictObject({ fresh: z.boolean().optional() });

export type ParseResult<T> =
  { ok: true; value: T } | { ok: false; error: string; issues: string[] };

export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
): ParseResult<z.output<S>> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = formatIssues(parsed.error.issues);
  return { ok: false, error: `bad request: ${issues.join('; ')}`, issues };
}
