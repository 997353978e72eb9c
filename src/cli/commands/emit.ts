// agentd emit: publish one event, to the running daemon's HTTP API or, with none, into the store.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { toEvent, type EventInput } from '../../core/envelope.js';
import { ValidationError } from '../../core/errors.js';
import { readDaemon } from '../../runtime/daemon-file.js';
import {
  locateStore,
  openStore,
  parsePositiveInt,
  printJson,
  UsageError,
  withStore,
  type StoreOptions,
} from '../cli-support.js';

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
      const daemon = delayMs === undefined ? readDaemon(store.dataDir) : undefined;
      let result: { id: string; source: string; duplicate: boolean; via: string };
      if (daemon !== undefined && daemon.url !== '') {
        const token = store.loaded.config.server?.token ?? process.env.AGENTD_TOKEN;
        const response = await fetch(`${daemon.url}/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/cloudevents+json',
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
          body: JSON.stringify(event),
        });
        const body = (await response.json().catch(() => ({}))) as {
          accepted?: { id: string; source: string; duplicate: boolean }[];
          error?: string;
        };
        if (response.status !== 202 || body.accepted?.[0] === undefined) {
          throw new Error(
            `the daemon at ${daemon.url} refused the event (${response.status}): ${body.error ?? 'no reason given'}`,
          );
        }
        result = { ...body.accepted[0], via: daemon.url };
      } else {
        const published = await withStore(openStore(store), (bus) =>
          bus.publish([event], delayMs === undefined ? {} : { delayMs }),
        );
        result = { ...published![0]!, via: store.dbPath };
      }
      if (opts.json === true) return printJson(result);
      const what = result.duplicate
        ? 'duplicate, dropped'
        : daemon === undefined
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
