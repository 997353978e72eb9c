// The `process` source: a supervised long-running command (restarted per its policy, with backoff),
// or a one-shot command run at each slot of a schedule. Every exit publishes `process.exited`.
// On shutdown the command gets SIGTERM, then SIGKILL; the daemon waits for it to be gone. While a
// route's backlog is full, the exit waits for room (and the restart with it) rather than be lost.
import { systemClock, type CancelTimer, type Clock } from '../../core/clock.js';
import type { MissedPolicy } from '../../core/cron-source-config.js';
import { toEvent, type AgentdEvent } from '../../core/envelope.js';
import type { RestartPolicy } from '../../core/process-source-config.js';
import { MemorySourceState, sourceStateOf, type SourceState } from '../../core/source-state.js';
import { isBacklogFull } from '../../governor/backpressure-error.js';
import type { Logger } from '../../observe/log.js';
import { ScheduleRunner, type ScheduleSlot } from '../cron/schedule-runner.js';
import type { Publish, Source } from '../source.js';
import { RestartBackoff, shouldRestart, type BackoffOptions } from './restart-backoff.js';
import { startCommand, type CommandResult, type RunningCommand } from './run-command.js';

export const PROCESS_EXITED_DATASCHEMA = 'agentd:process.exited/v1';

export interface ProcessScheduleOptions {
  schedule: string;
  timezone?: string | undefined;
  missed: MissedPolicy;
  maxCatchup: number;
  graceMs: number;
}

export interface ProcessSourceOptions {
  name: string;
  command: string | readonly string[];
  /** Absolute working directory. */
  cwd: string;
  env?: Record<string, string> | undefined;
  restart: RestartPolicy;
  backoff: BackoffOptions;
  tailLines: number;
  stopGraceMs: number;
  timeoutMs?: number | undefined;
  trust: 'operator' | 'external';
  /** Set: a one-shot command run at each slot instead of a supervised one. */
  schedule?: ProcessScheduleOptions | undefined;
  clock?: Clock;
  log: Logger;
  node?: string;
}

export type ExitReason = 'exited' | 'timeout' | 'shutdown' | 'spawn-failed';

/** `data` of `process.exited` (agentd:process.exited/v1). */
export interface ProcessExitedData extends CommandResult {
  process: string;
  command: string | string[];
  reason: ExitReason;
  /** The restart policy; null for a scheduled command. */
  restart: RestartPolicy | null;
  willRestart: boolean;
  restartInMs: number | null;
  /** How many times it had been restarted before this run. */
  restarts: number;
  /** The slot a scheduled command ran for; null for a supervised one. */
  scheduledAt: string | null;
}

export class ProcessSource implements Source {
  readonly kind = 'process';
  readonly name: string;
  private readonly clock: Clock;
  private readonly backoff: RestartBackoff;
  private publish: Publish | undefined;
  private current: RunningCommand | undefined;
  /** The exit being handled (published, restart planned): shutdown waits for it. */
  private exitHandled: Promise<void> = Promise.resolve();
  private restartTimer: CancelTimer | undefined;
  private runner: ScheduleRunner | undefined;
  private restarts = 0;
  private stopping = false;
  private timedOut = false;
  /** Ends the wait for room of an exit refused by a full backlog (on shutdown). */
  private wakeExitWait: (() => void) | undefined;

  constructor(private readonly options: ProcessSourceOptions) {
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.backoff = new RestartBackoff(options.backoff);
  }

  async start(publish: Publish, signal: AbortSignal, state?: SourceState): Promise<void> {
    this.publish = publish;
    const { schedule, log } = this.options;
    signal.addEventListener('abort', () => this.stop(), { once: true });
    if (schedule === undefined) {
      // Resolves at its exit; what start waits for is only the spawn being under way.
      if (!signal.aborted) void this.launch(undefined);
      return;
    }
    this.runner = new ScheduleRunner({
      name: this.name,
      ...schedule,
      clock: this.clock,
      state: state ?? sourceStateOf(new MemorySourceState(), this.name),
      log,
      // A slot is handled once its run has ended and its exit is stored; runs never overlap.
      fire: (slot) => this.launch(slot),
    });
    await this.runner.start(signal, { waitForDue: false });
  }

  /** Resolves once the command has exited and its exit event is published. */
  async stopped(): Promise<void> {
    await this.exitHandled;
    await this.runner?.stopped();
  }

  private stop(): void {
    this.stopping = true;
    this.restartTimer?.();
    this.restartTimer = undefined;
    this.wakeExitWait?.();
    if (this.current !== undefined) this.terminate(this.current);
  }

  /** SIGTERM, then SIGKILL after stopGraceMs; the exit itself is handled where it was launched. */
  private terminate(running: RunningCommand): void {
    running
      .stop(this.options.stopGraceMs)
      .catch((error: unknown) =>
        this.options.log.error(
          { source: this.name, pid: running.pid, err: error },
          'could not stop the process',
        ),
      );
  }

  /** Starts a run; resolves once its exit is handled. Never rejects: failures are logged. */
  private launch(slot: ScheduleSlot | undefined): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopping) return Promise.resolve();
    this.exitHandled = this.run(slot).catch((error: unknown) => {
      // Supervision itself failed (execa could not load, the process could not be signalled).
      this.current = undefined;
      this.options.log.error(
        { source: this.name, err: error },
        `process ${this.name}: supervision failed; not restarted`,
      );
    });
    return this.exitHandled;
  }

  private async run(slot: ScheduleSlot | undefined): Promise<void> {
    const { options } = this;
    this.timedOut = false;
    const running = await startCommand({
      command: options.command,
      cwd: options.cwd,
      env: options.env,
      tailLines: options.tailLines,
      detached: true,
      // Each line goes to the debug log; building the log call per line only when it is wanted.
      ...(options.log.isLevelEnabled('debug')
        ? {
            onLine: (stream: 'stdout' | 'stderr', line: string) =>
              options.log.debug({ source: this.name, stream }, line),
          }
        : {}),
    });
    const pid = running.pid;
    this.current = running;
    // The daemon began stopping while the command was being spawned.
    if (this.stopping) this.terminate(running);
    options.log.info(
      { source: this.name, pid, scheduledAt: slot?.scheduledAt.toISOString() },
      `process ${this.name} started`,
    );
    const timeout =
      options.timeoutMs === undefined
        ? undefined
        : this.clock.setTimer(() => {
            this.timedOut = true;
            this.terminate(running);
          }, options.timeoutMs);
    const result = await running.result.finally(() => {
      timeout?.();
      this.current = undefined;
    });
    await this.handleExit(result, slot);
  }

  private async handleExit(result: CommandResult, slot: ScheduleSlot | undefined): Promise<void> {
    const { options } = this;
    const reason: ExitReason =
      result.error !== undefined
        ? 'spawn-failed'
        : this.stopping
          ? 'shutdown'
          : this.timedOut
            ? 'timeout'
            : 'exited';
    const restart =
      slot === undefined && !this.stopping && shouldRestart(options.restart, result)
        ? this.backoff.next(result.durationMs)
        : undefined;
    const data: ProcessExitedData = {
      process: this.name,
      command: typeof options.command === 'string' ? options.command : [...options.command],
      ...result,
      reason,
      restart: slot === undefined ? options.restart : null,
      willRestart: restart !== undefined,
      restartInMs: restart ?? null,
      restarts: this.restarts,
      scheduledAt: slot?.scheduledAt.toISOString() ?? null,
    };
    const failed = result.exitCode !== 0 && reason !== 'shutdown';
    options.log[failed ? 'warn' : 'info'](
      {
        source: this.name,
        pid: result.pid,
        exitCode: result.exitCode,
        signal: result.signal,
        reason,
      },
      `process ${this.name} exited` +
        (restart === undefined ? '' : `; restarting in ${restart} ms`) +
        (result.error === undefined ? '' : `: ${result.error.split('\n')[0]}`),
    );
    await this.publishExit(this.event(data));
    if (restart === undefined || this.stopping) return;
    this.restarts++;
    this.restartTimer = this.clock.setTimer(() => {
      void this.launch(undefined);
    }, restart);
  }

  /** Publishes the exit, waiting for room while a route's backlog is full (until shutdown). */
  private async publishExit(event: AgentdEvent): Promise<void> {
    for (let refusals = 0; ; refusals++) {
      try {
        await this.publish?.([event]);
        return;
      } catch (error) {
        if (!isBacklogFull(error) || this.stopping) {
          this.options.log.error(
            { source: this.name, eventId: event.id, err: error },
            'could not publish process.exited: this exit is not reported',
          );
          return;
        }
        if (refusals === 0)
          this.options.log.warn(
            { source: this.name, eventId: event.id, routes: error.routes },
            'process.exited waits for room in the route backlog; the next run waits with it',
          );
        await new Promise<void>((resolve) => {
          const cancel = this.clock.setTimer(resolve, error.retryAfterMs ?? 1_000);
          this.wakeExitWait = () => {
            cancel();
            resolve();
          };
        });
        this.wakeExitWait = undefined;
      }
    }
  }

  private event(data: ProcessExitedData): AgentdEvent {
    return toEvent(
      {
        type: 'process.exited',
        time: data.exitedAt,
        dataschema: PROCESS_EXITED_DATASCHEMA,
        datacontenttype: 'application/json',
        partitionkey: this.name,
        data,
      },
      {
        source: `process:${this.name}`,
        trust: this.options.trust,
        ...(this.options.node === undefined ? {} : { origin: this.options.node }),
      },
    );
  }
}
