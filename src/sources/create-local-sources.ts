// Factories of the sources that run inside agentd rather than as HTTP routes (cron, fs, process):
// config entries, already validated, become source options with their defaults filled in.
import { resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import {
  DEFAULT_GRACE_MS,
  DEFAULT_MAX_CATCHUP,
  type CronSourceConfig,
} from '../core/cron-source-config.js';
import type { FsSourceConfig } from '../core/fs-source-config.js';
import { DEFAULT_TAIL_LINES, type ProcessSourceConfig } from '../core/process-source-config.js';
import type { Logger } from '../observe/log.js';
import { CronSource } from './cron/cron-source.js';
import { FsSource } from './fs/fs-source.js';
import { ProcessSource } from './process/process-source.js';

/** What these factories need of the daemon (a subset of create-sources' SourceContext). */
export interface LocalSourceContext {
  name: string;
  log: Logger;
  node: string;
  /** Relative paths in the config are read from here. Default the working directory. */
  baseDir?: string | undefined;
  /** agentd's data directory, which file watches leave out. */
  dataDir?: string | undefined;
  /** Time for schedules, debounce and backoff. Default real time. */
  clock?: Clock | undefined;
}

const clockOf = (context: LocalSourceContext) =>
  context.clock === undefined ? {} : { clock: context.clock };

/** The schedule fields shared by `cron` and scheduled `process` entries, with defaults. */
function scheduleOf(config: {
  schedule: string;
  timezone?: string | undefined;
  missed?: 'skip' | 'catchup' | undefined;
  maxCatchup?: number | undefined;
  graceMs?: number | undefined;
}) {
  return {
    schedule: config.schedule,
    timezone: config.timezone,
    missed: config.missed ?? 'skip',
    maxCatchup: config.maxCatchup ?? DEFAULT_MAX_CATCHUP,
    graceMs: config.graceMs ?? DEFAULT_GRACE_MS,
  };
}

export function createCronSource(config: CronSourceConfig, context: LocalSourceContext) {
  return new CronSource({
    name: context.name,
    ...scheduleOf(config),
    payload: config.payload,
    log: context.log,
    node: context.node,
    ...clockOf(context),
  });
}

export function createFsSource(config: FsSourceConfig, context: LocalSourceContext) {
  return new FsSource({
    name: context.name,
    paths: config.paths,
    ignore: config.ignore,
    baseDir: context.baseDir ?? process.cwd(),
    dataDir: context.dataDir,
    debounceMs: config.debounceMs,
    maxWaitMs: config.maxWaitMs,
    maxPaths: config.maxPaths,
    usePolling: config.usePolling,
    log: context.log,
    node: context.node,
    ...clockOf(context),
  });
}

export function createProcessSource(config: ProcessSourceConfig, context: LocalSourceContext) {
  const baseDir = context.baseDir ?? process.cwd();
  return new ProcessSource({
    name: context.name,
    command: config.command,
    cwd: resolve(baseDir, config.cwd ?? '.'),
    env: config.env,
    restart: config.restart ?? 'on-failure',
    backoff: config.backoff ?? { initialMs: 1_000, maxMs: 60_000 },
    tailLines: config.tailLines ?? DEFAULT_TAIL_LINES,
    stopGraceMs: config.stopGraceMs ?? 5_000,
    timeoutMs: config.timeoutMs,
    trust: config.trust ?? 'operator',
    schedule:
      config.schedule === undefined
        ? undefined
        : scheduleOf({ ...config, schedule: config.schedule }),
    log: context.log,
    node: context.node,
    ...clockOf(context),
  });
}
