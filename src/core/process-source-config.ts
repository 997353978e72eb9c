// Config schema of processes: the `process` source kind, a supervised long-running command or, with
// a `schedule`, a one-shot command run at each slot. Each exit publishes `process.exited`.
import { z } from 'zod';
import { checkScheduleFields, optionalScheduleFields } from './cron-source-config.js';
import { sourceNameSchema } from './source-fields.js';

export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export const DEFAULT_TAIL_LINES = 20;
export const MAX_TAIL_LINES = 200;

const positiveMs = z.int().min(1).max(86_400_000);

export const processSourceSchema = z
  .strictObject({
    kind: z.literal('process'),
    /** The process's name: each event's `partitionkey`. Default "process". */
    name: sourceNameSchema.optional(),
    /** An argv array (run as is), or one string run by the shell (`/bin/sh -c`). */
    command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Working directory, relative to the config file's directory. Default that directory. */
    cwd: z.string().min(1).optional(),
    /** Added to agentd's own environment. */
    env: z.record(z.string(), z.string()).optional(),
    /** When to start it again after it exits (supervised commands only). Default 'on-failure'. */
    restart: z.enum(RESTART_POLICIES).optional(),
    /** Delay before a restart: doubles per restart up to maxMs, and starts again at initialMs
     * after a run that stayed up longer than maxMs. Default 1000 / 60000. */
    backoff: z.strictObject({ initialMs: positiveMs, maxMs: positiveMs }).optional(),
    /** Lines of stdout and of stderr kept for the exit event. Default 20, at most 200. */
    tailLines: z.int().min(0).max(MAX_TAIL_LINES).optional(),
    /** After SIGTERM, how long to wait before SIGKILL. Default 5000. */
    stopGraceMs: z.int().min(0).max(600_000).optional(),
    /** Stop a run that takes longer than this (SIGTERM, then SIGKILL). Default none. */
    timeoutMs: positiveMs.optional(),
    /** Trust of the exit events: 'external' when the output may carry text from strangers (a
     * build of someone's pull request). Default 'operator'. */
    trust: z.enum(['operator', 'external']).optional(),
    ...optionalScheduleFields,
  })
  .superRefine((value, ctx) => {
    checkScheduleFields(value, ctx);
    if (value.schedule !== undefined && value.restart !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['restart'],
        message: 'a scheduled command runs once per slot: expected no restart policy',
      });
    if (value.backoff !== undefined && value.backoff.maxMs < value.backoff.initialMs)
      ctx.addIssue({
        code: 'custom',
        path: ['backoff', 'maxMs'],
        message: 'expected maxMs to be at least initialMs',
      });
  });

export type ProcessSourceConfig = z.output<typeof processSourceSchema>;
