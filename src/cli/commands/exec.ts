// agentd exec: runs any command (a build, a test suite) with its output passed through, then
// publishes `<prefix>.completed` or `<prefix>.failed` with its result, and exits with its exit code,
// so CI scripts and make targets can feed agentd without changing what they report.
import type { Command } from 'commander';
import { constants } from 'node:os';
import { EVENT_TYPE, toEvent } from '../../core/envelope.js';
import { startCommand, type CommandResult } from '../../sources/process/run-command.js';
import { MAX_TAIL_LINES } from '../../core/process-source-config.js';
import {
  duration,
  locateStore,
  parsePositiveInt,
  UsageError,
  type StoreOptions,
} from '../cli-support.js';
import { publishFromCli } from '../publish-event.js';

interface ExecOptions extends StoreOptions {
  typePrefix: string;
  key?: string;
  subject?: string;
  source?: string;
  tailLines?: string;
}

export const EXEC_DATASCHEMA = 'agentd:exec/v1';

/** `data` of `<prefix>.completed` and `<prefix>.failed` (agentd:exec/v1). */
export interface ExecEventData extends CommandResult {
  command: string[];
  cwd: string;
}

/** Exit code of a command that could not be started, as shells use for "command not found". */
const CANNOT_RUN = 127;

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description(
      'run a command, then publish <prefix>.completed or <prefix>.failed with its result',
    )
    .argument('<command...>', 'the command and its arguments, after --')
    .option(
      '--type-prefix <prefix>',
      'event types are <prefix>.completed / <prefix>.failed',
      'build',
    )
    .option('-k, --key <key>', 'partition key of the event')
    .option('--subject <subject>', 'event subject')
    .option('--source <source>', 'event source (default agentd://cli)')
    .option(
      '--tail-lines <n>',
      `lines of stdout and of stderr kept in the event (default 50, at most ${MAX_TAIL_LINES})`,
    )
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .action(async (command: string[], opts: ExecOptions) => {
      const prefix = opts.typePrefix;
      if (!EVENT_TYPE.test(`${prefix}.completed`))
        throw new UsageError(
          `--type-prefix expects dotted segments such as "build" or "ci.test", got "${prefix}"`,
        );
      const tailLines =
        opts.tailLines === undefined ? 50 : parsePositiveInt(opts.tailLines, '--tail-lines');
      if (tailLines > MAX_TAIL_LINES)
        throw new UsageError(`--tail-lines is at most ${MAX_TAIL_LINES}, got ${tailLines}`);
      // Found first: a bad config fails before the command runs, not after a long build.
      const store = await locateStore(opts);

      const result = await runInForeground(command, tailLines);
      const failed = result.exitCode !== 0;
      const type = `${prefix}.${failed ? 'failed' : 'completed'}`;
      const data: ExecEventData = { command, cwd: process.cwd(), ...result };
      const event = toEvent(
        {
          type,
          source: opts.source ?? 'agentd://cli',
          time: result.exitedAt,
          dataschema: EXEC_DATASCHEMA,
          datacontenttype: 'application/json',
          data,
          ...(opts.key === undefined ? {} : { partitionkey: opts.key }),
          ...(opts.subject === undefined ? {} : { subject: opts.subject }),
        },
        { source: 'agentd://cli', trust: 'operator' },
      );
      process.exitCode = exitCodeOf(result);
      const how =
        result.error?.split('\n')[0] ??
        (result.signal === null ? `exit ${result.exitCode}` : `killed by ${result.signal}`);
      try {
        const { result: published } = await publishFromCli(store, event);
        process.stderr.write(
          `agentd: ${type} ${published.id} (${how} after ${duration(result.durationMs)}) via ${published.via}\n`,
        );
      } catch (error) {
        // The command's own exit code stands: a build does not fail because agentd was unreachable.
        process.stderr.write(
          `agentd: could not publish ${type}: ${(error as Error).message.split('\n')[0]}\n`,
        );
      }
    });
}

/** Runs the command with the terminal's stdin and output, keeping the tail of each stream. */
async function runInForeground(command: string[], tailLines: number): Promise<CommandResult> {
  const running = await startCommand({
    command,
    tailLines,
    detached: false,
    passthrough: true,
    stdin: 'inherit',
  });
  // SIGINT from a terminal reaches the command itself (same process group): agentd only stays to
  // report how it ended. SIGTERM and SIGHUP may be sent to agentd alone, so they are passed on.
  const onInterrupt = () => undefined;
  const forward = (signal: NodeJS.Signals) => running.signal(signal);
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  try {
    return await running.result;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', forward);
    process.off('SIGHUP', forward);
  }
}

/** The command's exit code; killed by a signal, 128 + its number, as shells report it. */
function exitCodeOf(result: CommandResult): number {
  if (result.exitCode !== null) return result.exitCode;
  if (result.signal !== null) {
    const number = constants.signals[result.signal as NodeJS.Signals] as number | undefined;
    return number === undefined ? 1 : 128 + number;
  }
  return CANNOT_RUN;
}
