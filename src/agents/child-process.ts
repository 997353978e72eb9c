// Runs a program for run_command and command agents through execa: no shell, a scrubbed
// environment, a byte cap on output, a kill on timeout or abort. execa is ESM-only and is loaded on
// first use, so a config that tsx loads as CommonJS can still import agentd.
import type * as Execa from 'execa';
export interface ProcessOptions {
  cwd: string;
  /** Added to the minimal environment. */
  env?: Record<string, string> | undefined;
  /** Written to stdin; without it stdin is closed. */
  input?: string | undefined;
  /** Kills the program after this long; undefined relies on `signal` alone. */
  timeoutMs?: number | undefined;
  /** Between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** stdout and stderr each; past it the program is stopped. */
  maxOutputBytes: number;
  signal: AbortSignal;
}

export interface ProcessResult {
  exitCode: number | undefined;
  /** The signal that ended it, when one did. */
  killedBy: string | undefined;
  timedOut: boolean;
  /** Output passed maxOutputBytes and the program was stopped. */
  overflowed: boolean;
  /** Why it could not run at all (program not found), when it could not. */
  spawnError: string | undefined;
  stdout: string;
  stderr: string;
}

const PASSED_THROUGH = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** What a child sees of the daemon's environment: nothing that could hold a key. */
export function minimalEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

let execaModule: Promise<typeof Execa> | undefined;

export async function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions,
): Promise<ProcessResult> {
  const { execa } = await (execaModule ??= import('execa'));
  const result = await execa(command, args, {
    cwd: options.cwd,
    env: minimalEnv(options.env),
    extendEnv: false,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
    forceKillAfterDelay: options.killGraceMs,
    maxBuffer: options.maxOutputBytes,
    encoding: 'buffer',
    reject: false,
    cancelSignal: options.signal,
  });
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const spawnFailed = result.failed && result.exitCode === undefined && result.signal === undefined;
  return {
    exitCode: result.exitCode,
    killedBy: result.signal,
    timedOut: result.timedOut,
    overflowed: result.isMaxBuffer,
    spawnError:
      spawnFailed && !result.timedOut && !result.isCanceled ? result.shortMessage : undefined,
    stdout: decode(result.stdout),
    stderr: decode(result.stderr),
  };
}
