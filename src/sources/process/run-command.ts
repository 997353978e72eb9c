// Runs one command with execa and reports how it ended: exit code or signal, duration, and the tail
// of its stdout and stderr. Supervised commands get a process group of their own, so stopping one
// stops everything it started; agentd exec runs in the foreground and passes output through.
import type * as Execa from 'execa';
import { OutputTail } from './output-tail.js';

export interface CommandOptions {
  /** An argv array (run as is), or one string run by the shell. */
  command: string | readonly string[];
  cwd?: string | undefined;
  /** Added to agentd's own environment. */
  env?: Record<string, string> | undefined;
  tailLines: number;
  /** Own process group (supervised commands): a stop reaches the command's children too. */
  detached: boolean;
  /** Also copy the output to agentd's own stdout and stderr (agentd exec). */
  passthrough?: boolean;
  stdin?: 'ignore' | 'inherit';
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface CommandResult {
  pid: number | null;
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  exitedAt: string;
  durationMs: number;
  stdout: string;
  stderr: string;
  /** Why it could not run at all (command not found, bad cwd). */
  error?: string;
}

export interface RunningCommand {
  readonly pid: number | undefined;
  readonly result: Promise<CommandResult>;
  /** Sends a signal to the command (its whole group when detached). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs: number): Promise<CommandResult>;
}

// execa is ESM-only: loaded on first use, so that a config compiled as CommonJS can still import
// agentd's public API (which reaches this file through the daemon).
let execaModule: Promise<typeof Execa> | undefined;

/** Groups still alive, killed if agentd exits without stopping them (an uncaught error). */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** Starts the command; resolves once it is spawned (or failed to spawn: see `result`). */
export async function startCommand(options: CommandOptions): Promise<RunningCommand> {
  const { execa } = await (execaModule ??= import('execa'));
  const startedAt = new Date();
  const output = (stream: 'stdout' | 'stderr') =>
    new OutputTail(options.tailLines, options.onLine && ((line) => options.onLine?.(stream, line)));
  const tails = { stdout: output('stdout'), stderr: output('stderr') };
  const passthrough = options.passthrough === true;
  const common = {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    extendEnv: true,
    stdin: options.stdin ?? 'ignore',
    stdout: passthrough ? (['pipe', 'inherit'] as const) : ('pipe' as const),
    stderr: passthrough ? (['pipe', 'inherit'] as const) : ('pipe' as const),
    buffer: false,
    reject: false,
    detached: options.detached,
    // execa's cleanup kills a foreground command when agentd exits; detached groups have our hook.
    cleanup: !options.detached,
    windowsHide: true,
  };
  const subprocess =
    typeof options.command === 'string'
      ? execa(options.command, { ...common, shell: true })
      : execa(options.command[0]!, options.command.slice(1), common);
  subprocess.stdout?.on('data', (chunk: Buffer) => tails.stdout.write(chunk));
  subprocess.stderr?.on('data', (chunk: Buffer) => tails.stderr.write(chunk));
  const pid = subprocess.pid;
  const group = options.detached && pid !== undefined ? pid : undefined;
  if (group !== undefined) trackGroup(group);

  const send = (signal: NodeJS.Signals) => {
    try {
      if (group !== undefined) process.kill(-group, signal);
      else subprocess.kill(signal);
    } catch (error) {
      // ESRCH: it already exited. Anything else (EPERM) is a real failure.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };

  const result = (async (): Promise<CommandResult> => {
    const outcome = await subprocess;
    tails.stdout.end();
    tails.stderr.end();
    if (group !== undefined) {
      // Whatever the command left behind in its group goes with it, as systemd's control-group
      // kill mode does: a restarted command never finds its predecessor's children still running.
      send('SIGKILL');
      liveGroups.delete(group);
    }
    const exitedAt = new Date();
    const spawnError =
      outcome.failed && outcome.exitCode === undefined && outcome.signal === undefined
        ? outcome.shortMessage
        : undefined;
    return {
      pid: pid ?? null,
      exitCode: outcome.exitCode ?? null,
      signal: outcome.signal ?? null,
      startedAt: startedAt.toISOString(),
      exitedAt: exitedAt.toISOString(),
      durationMs: exitedAt.getTime() - startedAt.getTime(),
      stdout: tails.stdout.text(),
      stderr: tails.stderr.text(),
      ...(spawnError === undefined ? {} : { error: spawnError }),
    };
  })();

  return {
    pid,
    result,
    signal: send,
    async stop(graceMs) {
      send('SIGTERM');
      const force = setTimeout(() => send('SIGKILL'), graceMs);
      try {
        return await result;
      } finally {
        clearTimeout(force);
      }
    },
  };
}

function trackGroup(group: number): void {
  liveGroups.add(group);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const each of liveGroups) {
      try {
        process.kill(-each, 'SIGKILL');
      } catch {
        // Already gone; at exit there is nobody left to tell about anything else.
      }
    }
  });
}
