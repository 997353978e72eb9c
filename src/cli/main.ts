// The agentd command line. Exit codes: 0 done, 1 failed, 2 bad arguments or input.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { ValidationError } from '../core/errors.js';
import { UsageError } from './cli-support.js';
import { registerDlq } from './commands/dlq.js';
import { registerEmit } from './commands/emit.js';
import { registerEvents } from './commands/events.js';
import { registerExec } from './commands/exec.js';
import { registerInit } from './commands/init.js';
import { registerOutbox } from './commands/outbox.js';
import { registerPause } from './commands/pause.js';
import { registerQuarantine } from './commands/quarantine.js';
import { registerRuns } from './commands/runs.js';
import { registerSchemas } from './commands/schemas.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerTrace } from './commands/trace.js';

const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

const program = new Command('agentd')
  .description('agentd: an event-driven agent harness')
  .version(version)
  .showSuggestionAfterError()
  .exitOverride()
  .configureOutput({
    outputError: (message, write) => write(`agentd: ${message.replace(/^error: /, '').trim()}\n`),
  });

for (const register of [
  registerInit,
  registerStart,
  registerEmit,
  registerExec,
  registerEvents,
  registerRuns,
  registerDlq,
  registerQuarantine,
  registerSchemas,
  registerOutbox,
  registerStatus,
  registerPause,
  registerTrace,
]) {
  register(program);
}
for (const command of program.commands) {
  command.exitOverride();
  for (const sub of command.commands) sub.exitOverride();
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeFor(error);
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and --version end through here too, with exit code 0.
    return error.exitCode === 0 ? 0 : 2;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`agentd: ${message.split('\n')[0]}\n`);
  return error instanceof UsageError || error instanceof ValidationError ? 2 : 1;
}
