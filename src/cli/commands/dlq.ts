// agentd dlq list|show|replay|purge: the dead-letter queue.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { DeadLetter } from '../../bus/bus.js';
import {
  checkSelection,
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
  UsageError,
  withStore,
  type StoreOptions,
} from '../cli-support.js';

interface ListOptions extends StoreOptions {
  route?: string;
  type?: string;
  limit: string;
  json?: boolean;
}

interface BulkOptions extends StoreOptions {
  all?: boolean;
  route?: string;
  fresh?: boolean;
  json?: boolean;
}

const storeOptions = (command: Command) =>
  command
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory');

const DEAD_LETTER_IDS = { idNoun: 'dead letter id', listCommand: 'agentd dlq list' };

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect, replay and purge dead-lettered runs');

  storeOptions(
    dlq
      .command('list')
      .description('dead letters, newest first')
      .option('-r, --route <name>', 'only this route')
      .option('-t, --type <type>', 'only this event type')
      .option('-n, --limit <n>', 'how many', '50')
      .option('--json', 'print JSON'),
  ).action(async (opts: ListOptions) => {
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

  storeOptions(
    dlq
      .command('show')
      .description('one dead letter: event, reason and every error')
      .argument('<id>')
      .option('--json', 'print JSON'),
  ).action(async (id: string, opts: StoreOptions & { json?: boolean }) => {
    const store = await locateStore(opts);
    // No store yet means no dead letters: the one-line error below says so, without a note first.
    const found =
      onNats(store) || existsSync(store.dbPath)
        ? await withStore(await openConfiguredBus(store), (bus) => bus.dlq.show(id))
        : undefined;
    if (found === undefined)
      throw new UsageError(`no dead letter with id ${id} (see agentd dlq list)`);
    if (opts.json === true) return printJson(found);
    process.stdout.write(describe(found));
  });

  storeOptions(
    dlq
      .command('replay')
      .description(
        'deliver dead letters again from attempt 1 (memoized steps are kept unless --fresh)',
      )
      .argument('[ids...]', 'dead letter ids')
      .option('--all', 'every dead letter (or every one of --route)')
      .option('-r, --route <name>', 'with --all: only this route')
      .option('--fresh', 'forget memoized steps: the run starts over')
      .option('--json', 'print JSON'),
  ).action(async (ids: string[], opts: BulkOptions) => {
    checkSelection(ids, opts.all, {
      ...DEAD_LETTER_IDS,
      filter: { flag: '--route', value: opts.route },
    });
    const store = await locateStore(opts);
    const count = await withStore(await openExistingBus(store), async (bus) =>
      bus.dlq.replay(await select(bus.dlq, ids, opts), { fresh: opts.fresh === true }),
    );
    reportCount('replayed', count ?? 0, 'dead letter', opts.json === true);
  });

  storeOptions(
    dlq
      .command('purge')
      .description('delete dead letters for good')
      .argument('[ids...]', 'dead letter ids')
      .option('--all', 'every dead letter (or every one of --route)')
      .option('-r, --route <name>', 'with --all: only this route')
      .option('--json', 'print JSON'),
  ).action(async (ids: string[], opts: BulkOptions) => {
    checkSelection(ids, opts.all, {
      ...DEAD_LETTER_IDS,
      filter: { flag: '--route', value: opts.route },
    });
    const store = await locateStore(opts);
    const count = await withStore(await openExistingBus(store), async (bus) =>
      bus.dlq.purge(await select(bus.dlq, ids, opts)),
    );
    reportCount('purged', count ?? 0, 'dead letter', opts.json === true);
  });
}

async function select(
  dlq: { list: (f: { subscription?: string; limit: number }) => Promise<DeadLetter[]> },
  ids: string[],
  opts: BulkOptions,
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
