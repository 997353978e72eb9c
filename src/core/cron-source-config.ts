// Config schema of schedules: the `cron` source kind, and the schedule fields a `process` source
// shares with it (a command run on a schedule).
import { CronPattern } from 'croner';
import { z } from 'zod';
import { sourceNameSchema } from './source-fields.js';

export const MISSED_POLICIES = ['skip', 'catchup'] as const;
export type MissedPolicy = (typeof MISSED_POLICIES)[number];

/** Per schedule: how many missed slots `catchup` replays at most, unless set. */
export const DEFAULT_MAX_CATCHUP = 10;
/** How late a slot may fire and still count as on time (Quartz's misfire threshold, too). */
export const DEFAULT_GRACE_MS = 60_000;

const cronExpression = z.string().superRefine((value, ctx) => {
  try {
    new CronPattern(value);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a cron expression such as "0 3 * * *" (5 fields, or 6 with seconds first): ${(error as Error).message}`,
    });
  }
});

const timeZone = z.string().superRefine((value, ctx) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `expected an IANA time zone such as "Europe/Berlin" or "UTC", got "${value}"`,
    });
  }
});

/** The fields that describe when something happens. */
const scheduleFields = {
  /** Cron expression: 5 fields, or 6 with seconds first; `@daily`-style nicknames too. */
  schedule: cronExpression,
  /** IANA time zone the expression is read in. Default: the machine's local time zone. */
  timezone: timeZone.optional(),
  /** Slots that passed while agentd was down: 'skip' (default) or 'catchup'. */
  missed: z.enum(MISSED_POLICIES).optional(),
  /** With missed: 'catchup', replay at most this many missed slots (the newest). Default 10. */
  maxCatchup: z.int().min(1).max(1_000).optional(),
  /** A slot up to this late still fires as on time, whatever `missed` says. Default 60000. */
  graceMs: z.int().min(0).max(86_400_000).optional(),
};

export const optionalScheduleFields = {
  schedule: scheduleFields.schedule.optional(),
  timezone: scheduleFields.timezone,
  missed: scheduleFields.missed,
  maxCatchup: scheduleFields.maxCatchup,
  graceMs: scheduleFields.graceMs,
};

/** Checks the schedule fields agree: maxCatchup only with catchup, the rest only with a schedule. */
export function checkScheduleFields(
  value: { schedule?: string | undefined; missed?: MissedPolicy | undefined } & Record<
    string,
    unknown
  >,
  ctx: z.RefinementCtx,
): void {
  if (value.maxCatchup !== undefined && value.missed !== 'catchup')
    ctx.addIssue({
      code: 'custom',
      path: ['maxCatchup'],
      message: "expected missed: 'catchup' alongside maxCatchup",
    });
  if (value.schedule !== undefined) return;
  for (const field of ['timezone', 'missed', 'maxCatchup', 'graceMs'])
    if (value[field] !== undefined)
      ctx.addIssue({ code: 'custom', path: [field], message: 'expected a schedule alongside it' });
}

/** A schedule that publishes `schedule.<name>` at each slot. */
export const cronSourceSchema = z
  .strictObject({
    kind: z.literal('cron'),
    /** The schedule's name: events are `schedule.<name>`. Default "cron". */
    name: sourceNameSchema.optional(),
    ...scheduleFields,
    /** Copied into each event's data as `payload`, for the route to read. */
    payload: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine(checkScheduleFields);

export type CronSourceConfig = z.output<typeof cronSourceSchema>;
