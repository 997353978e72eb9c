// agentd dlq list|show|replay|purge: the dead-letter queue.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { DeadLetter } from '../../bus/bus.js';
import {
  reportCount,
  localTime,
  locateStore,
  onNats,
  openConfiguredBus,
  openExistingBus,
  parsePositiveInt,
  printJson,
  printTable,
  shorten,
  withStore,
  type StoreOptions,
} from '../cli-support.js';
import {
  addBulkCommand,
  addShowCommand,
  storeCommand,
  type BulkOptions,
} from '../inspect-commands.js';

interface ListOptions extends StoreOptions {
  route?: string;
  type?: string;
  limit: string;
  json?: boolean;
}

interface DlqBulkOptions extends BulkOptions {
  route?: string;
  fresh?: boolean;
}

const DEAD_LETTER_IDS = { idNoun: 'dead letter id', listCommand: 'agentd dlq list' };
const ROUTE_FILTER = {
  flags: '-r, --route <name>',
  description: 'with --all: only this route',
  option: 'route',
} as const;

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect, replay and purge dead-lettered runs');

  storeCommand(dlq, 'list', 'dead letters, newest first')
    .option('-r, --route <name>', 'only this route')
    .option('-t, --type <type>', 'only this event type')
    .option('-n, --limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(async (opts: ListOptions) => {
      const limit = parsePositiveInt(opts.limit, '--limit');
      const store = await locateStore(opts);
      const list = await withStore(await openExistingBus(store), (bus) =>
        bus.dlq.list({
          limit,
          ...(opts.route === undefined ? {} : { subscription: opts.route }),
          ...(opts.type === undefined ? {} : { type: opts.type }),
        }),
      );
      if (opts.json === true) return printJson(list ?? []);
      printTable(
        ['id', 'route', 'event', 'attempts', 'dead since', 'reason'],
        (list ?? []).map((d) => [
          d.deliveryId,
          d.subscription,
          `${d.event.type} ${d.event.id}`,
          d.attempts,
          localTime(d.deadAt),
          shorten(d.reason, 60),
        ]),
        'the dead-letter queue is empty',
      );
    });

  addShowCommand(dlq, {
    description: 'one dead letter: event, reason and every error',
    missing: (id) => `no dead letter with id ${id} (see agentd dlq list)`,
    async find(id, opts) {
      const store = await locateStore(opts);
      // No store yet means no dead letters: the one-line error says so, without a note first.
      if (!onNats(store) && !existsSync(store.dbPath)) return undefined;
      return withStore(await openConfiguredBus(store), (bus) => bus.dlq.show(id));
    },
    describe,
  });

  addBulkCommand<DlqBulkOptions>(dlq, {
    name: 'replay',
    description:
      'deliver dead letters again from attempt 1 (memoized steps are kept unless --fresh)',
    selection: DEAD_LETTER_IDS,
    all: 'every dead letter (or every one of --route)',
    filter: ROUTE_FILTER,
    options: [['--fresh', 'forget memoized steps: the run starts over']],
    async run(ids, opts) {
      const store = await locateStore(opts);
      const count = await withStore(await openExistingBus(store), async (bus) =>
        bus.dlq.replay(await select(bus.dlq, ids, opts), { fresh: opts.fresh === true }),
      );
      reportCount('replayed', count ?? 0, 'dead letter', opts.json === true);
    },
  });

  addBulkCommand<DlqBulkOptions>(dlq, {
    name: 'purge',
    description: 'delete dead letters for good',
    selection: DEAD_LETTER_IDS,
    all: 'every dead letter (or every one of --route)',
    filter: ROUTE_FILTER,
    async run(ids, opts) {
      const store = await locateStore(opts);
      const count = await withStore(await openExistingBus(store), async (bus) =>
        bus.dlq.purge(await select(bus.dlq, ids, opts)),
      );
      reportCount('purged', count ?? 0, 'dead letter', opts.json === true);
    },
  });
}

async function select(
  dlq: { list: (f: { subscription?: string; limit: number }) => Promise<DeadLetter[]> },
  ids: string[],
  opts: DlqBulkOptions,
): Promise<string[]> {
  if (ids.length > 0) return ids;
  const all = await dlq.list({
    limit: Number.MAX_SAFE_INTEGER,
    ...(opts.route === undefined ? {} : { subscription: opts.route }),
  });
  return all.map((d) => d.deliveryId);
}

function describe(d: DeadLetter): string {
  const lines = [
    `dead letter ${d.deliveryId}  route ${d.subscription}  attempts ${d.attempts}  dead since ${localTime(d.deadAt)}`,
    `reason: ${d.reason}`,
    'errors:',
    ...d.errors.map((e) => `  #${e.attempt} ${localTime(e.at)}  ${e.error}`),
    'event:',
    JSON.stringify(d.event, null, 2),
  ];
  return `${lines.join('\n')}\n`;
}
