// agentd emit: publish one event, to the running daemon's HTTP API or, with none, into the store.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { toEvent, type EventInput } from '../../core/envelope.js';
import { ValidationError } from '../../core/errors.js';
import {
  locateStore,
  parsePositiveInt,
  printJson,
  UsageError,
  type StoreOptions,
} from '../cli-support.js';
import { publishFromCli } from '../publish-event.js';

interface EmitOptions extends StoreOptions {
  data?: string;
  dataFile?: string;
  key?: string;
  source?: string;
  subject?: string;
  id?: string;
  delayMs?: string;
  json?: boolean;
}

export function registerEmit(program: Command): void {
  program
    .command('emit')
    .description('publish an event (via the running daemon, or straight into the store)')
    .argument('<type>', 'event type, e.g. hello.world')
    .option('--data <json>', 'event data as JSON')
    .option('--data-file <file>', 'event data from a JSON file (- for stdin)')
    .option('-k, --key <key>', 'partition key: events sharing it run in order, one at a time')
    .option('--source <source>', 'event source (default agentd://cli)')
    .option('--subject <subject>', 'event subject')
    .option('--id <id>', 'event id (default: a new UUIDv7); re-using one is dropped as a duplicate')
    .option('--delay-ms <ms>', 'deliver no earlier than this many ms from now (store only)')
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .option('--json', 'print the result as JSON')
    .action(async (type: string, opts: EmitOptions) => {
      const input: EventInput = { type, source: opts.source ?? 'agentd://cli' };
      const data = readData(opts);
      if (data !== undefined) input.data = data;
      if (opts.key !== undefined) input.partitionkey = opts.key;
      if (opts.subject !== undefined) input.subject = opts.subject;
      if (opts.id !== undefined) input.id = opts.id;
      const delayMs =
        opts.delayMs === undefined ? undefined : parsePositiveInt(opts.delayMs, '--delay-ms');
      let event;
      try {
        event = toEvent(input, { source: 'agentd://cli', trust: 'operator' });
      } catch (error) {
        if (error instanceof ValidationError) throw new UsageError(error.message);
        throw error;
      }

      const store = await locateStore(opts);
      const { result, daemonRunning } = await publishFromCli(
        store,
        event,
        delayMs === undefined ? {} : { delayMs },
      );
      // Quarantined: stored, but no route gets it until it is replayed. Say so, and fail.
      if (result.quarantined === true) process.exitCode = 1;
      if (opts.json === true) return printJson(result);
      if (result.quarantined === true)
        return void process.stderr.write(
          `agentd: ${type} ${result.id} was quarantined: its data breaks its type's contract (agentd quarantine list)\n`,
        );
      const what = result.duplicate
        ? 'duplicate, dropped'
        : !daemonRunning
          ? 'stored; it runs when the daemon runs'
          : 'accepted';
      process.stdout.write(`${type} ${result.id} (${what}) via ${result.via}\n`);
    });
}

function readData(opts: EmitOptions): unknown {
  if (opts.data !== undefined && opts.dataFile !== undefined)
    throw new UsageError('use either --data or --data-file, not both');
  let text: string;
  let from: string;
  if (opts.data !== undefined) {
    text = opts.data;
    from = '--data';
  } else if (opts.dataFile !== undefined) {
    from = `--data-file ${opts.dataFile}`;
    try {
      text = readFileSync(opts.dataFile === '-' ? 0 : opts.dataFile, 'utf8');
    } catch (error) {
      throw new UsageError(`${from}: ${(error as Error).message}`);
    }
  } else {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${from} is not valid JSON: ${(error as Error).message}`);
  }
}
