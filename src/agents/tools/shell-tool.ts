// run_command: programs from an allowlist, run without a shell in the workspace, with a timeout,
// an output cap and a scrubbed environment (the daemon's API keys never reach a command).
import { z } from 'zod';
import { ToolRefusedError } from '../agent-errors.js';
import { runProcess } from '../child-process.js';
import { toolFromZod, ToolReply, type AgentTool } from './tool.js';

export interface ShellToolOptions {
  /** Program names the model may run, e.g. `['git', 'ls', 'rg']`. Paths are never accepted. */
  allow: string[];
  /** Per command. Default 30 s; the program is killed after it. */
  timeoutMs?: number;
  /** stdout and stderr each; the program is stopped when it writes more. Default 64 KiB. */
  maxOutputBytes?: number;
  /** Variables added to the minimal environment (PATH, HOME, LANG, ...). */
  env?: Record<string, string>;
}

const PROGRAM = /^[A-Za-z0-9._+-]+$/;

export function shellTool(options: ShellToolOptions): AgentTool {
  const allowed = new Set(options.allow);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBytes = options.maxOutputBytes ?? 64 * 1024;
  return toolFromZod(
    {
      name: 'run_command',
      description: `Runs a program in the workspace directory, without a shell (no pipes, globbing or redirection). Allowed programs: ${[...allowed].join(', ')}. Killed after ${timeoutMs} ms.`,
      input: z.object({
        command: z.string().min(1).describe('the program name, e.g. "git"'),
        args: z.array(z.string()).optional().describe('arguments, one per element'),
      }),
      run: async ({ command, args }, ctx) => {
        if (!PROGRAM.test(command) || !allowed.has(command)) {
          throw new ToolRefusedError(
            `command "${command}" is not on the allowlist (${[...allowed].join(', ')})`,
          );
        }
        if (ctx.workspace === undefined) throw new ToolRefusedError('this agent has no workspace');
        const result = await runProcess(command, args ?? [], {
          cwd: ctx.workspace,
          env: options.env,
          timeoutMs,
          killGraceMs: 2_000,
          maxOutputBytes: maxBytes,
          signal: ctx.signal,
        });
        ctx.signal.throwIfAborted();
        const status = result.timedOut
          ? `killed after ${timeoutMs} ms (timeout)`
          : result.overflowed
            ? `stopped: output passed ${maxBytes} bytes`
            : result.spawnError !== undefined
              ? `could not run: ${result.spawnError}`
              : result.exitCode === undefined
                ? `killed by ${result.killedBy ?? 'a signal'}`
                : `exit code ${result.exitCode}`;
        const lines = [status, `stdout:\n${result.stdout}`];
        if (result.stderr !== '') lines.push(`stderr:\n${result.stderr}`);
        return new ToolReply(lines.join('\n'), result.exitCode !== 0);
      },
    },
    'shell',
    false,
  );
}
