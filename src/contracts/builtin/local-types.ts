// Contracts of the events agentd's own sources and commands make: schedules (cron), file changes
// (fs), process exits (process) and `agentd exec` results. Loose objects, so fields added later
// are not breaking; every field the sources fill today is declared.
import { z } from 'zod';
import { defineEventType } from '../../core/event-type.js';
import { RESTART_POLICIES } from '../../core/process-source-config.js';
import { CHANGE_KINDS } from '../../sources/fs/change-coalescer.js';
import type { TypeFamily } from './type-family.js';

const iso = z.string();

const schedule = defineEventType(
  'schedule',
  z.object({
    schedule: z.string(),
    cron: z.string(),
    timezone: z.string().nullable(),
    scheduledAt: iso,
    firedAt: iso,
    catchup: z.boolean(),
    payload: z.record(z.string(), z.unknown()).optional(),
    /** Slots held back by a full route backlog that this one event stands for. */
    coalesced: z.int().positive().optional(),
    coalescedFrom: iso.optional(),
  }),
  {
    types: 'schedule.*',
    description: 'a cron source reached a slot of its schedule (schedule.<name>)',
    example: {
      schedule: 'nightly',
      cron: '0 3 * * *',
      timezone: 'Europe/Berlin',
      scheduledAt: '2026-11-20T02:00:00.000Z',
      firedAt: '2026-11-20T02:00:00.012Z',
      catchup: false,
      payload: { report: 'digest' },
    },
  },
);

const fsChanged = defineEventType(
  'fs.changed',
  z.object({
    watch: z.string(),
    base: z.string(),
    changes: z.array(z.object({ path: z.string(), kind: z.enum(CHANGE_KINDS) })),
    /** Bursts held back by a full route backlog that this one event stands for. */
    coalesced: z.int().positive().optional(),
    /** Changed paths not listed because more than maxPaths changed while held back. */
    omitted: z.int().positive().optional(),
  }),
  {
    description: 'files changed under an fs source (one event per burst)',
    example: {
      watch: 'docs',
      base: '/srv/app',
      changes: [
        { path: 'docs/intro.md', kind: 'change' },
        { path: 'docs/new.md', kind: 'add' },
      ],
    },
  },
);

/** What a finished command reports, in process.exited and exec results alike. */
const commandResult = {
  pid: z.number().nullable(),
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  startedAt: iso,
  exitedAt: iso,
  durationMs: z.number(),
  stdout: z.string(),
  stderr: z.string(),
  error: z.string().optional(),
};
const exampleResult = {
  pid: 4242,
  exitCode: 1,
  signal: null,
  startedAt: '2026-11-20T10:00:00.000Z',
  exitedAt: '2026-11-20T10:00:41.500Z',
  durationMs: 41_500,
  stdout: 'compiling...\n',
  stderr: 'error TS2322: ...\n',
};

const processExited = defineEventType(
  'process.exited',
  z.object({
    process: z.string(),
    command: z.union([z.string(), z.array(z.string())]),
    ...commandResult,
    reason: z.enum(['exited', 'timeout', 'shutdown', 'spawn-failed']),
    restart: z.enum(RESTART_POLICIES).nullable(),
    willRestart: z.boolean(),
    restartInMs: z.number().nullable(),
    restarts: z.number(),
    scheduledAt: iso.nullable(),
  }),
  {
    description: 'a command run by a process source exited',
    example: {
      process: 'worker',
      command: ['node', 'worker.js'],
      ...exampleResult,
      reason: 'exited',
      restart: 'on-failure',
      willRestart: true,
      restartInMs: 1000,
      restarts: 0,
      scheduledAt: null,
    },
  },
);

const exec = defineEventType(
  'exec',
  z.object({ command: z.array(z.string()), cwd: z.string(), ...commandResult }),
  {
    types: ['build.completed', 'build.failed'],
    description:
      'agentd exec ran a command: <prefix>.completed or <prefix>.failed (prefix "build" by default)',
    example: { command: ['npm', 'run', 'build'], cwd: '/srv/app', ...exampleResult },
  },
);

export const localEventTypes = { schedule, fsChanged, processExited, exec };

export const localFamilies: TypeFamily[] = [
  { title: 'schedule.*', summary: schedule.description ?? '', types: [schedule] },
  { title: 'fs.changed', summary: fsChanged.description ?? '', types: [fsChanged] },
  { title: 'process.exited', summary: processExited.description ?? '', types: [processExited] },
  { title: 'build.completed, build.failed', summary: exec.description ?? '', types: [exec] },
];
