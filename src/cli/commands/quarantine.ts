// agentd quarantine list|show|replay|purge: events refused at ingest because their data broke their
// type's contract. A replay checks them again with the config's contracts as they are now.
import type { Command } from 'commander';
import type { Bus } from '../../bus/bus.js';
import type { Quarantine, QuarantinedEvent } from '../../bus/quarantine.js';
import { describeIssues } from '../../core/ingest-gate.js';
import {
  checkSelection,
  reportCount,
  localTime,
  locateStore,
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
  type?: string;
  limit: string;
  json?: boolean;
}

interface BulkOptions extends StoreOptions {
  all?: boolean;
  type?: string;
  json?: boolean;
}

const storeOptions = (command: Command) =>
  command
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory');

const QUARANTINE_IDS = { idNoun: 'quarantine id', listCommand: 'agentd quarantine list' };

export function registerQuarantine(program: Command): void {
  const quarantine = program
    .command('quarantine')
    .description("events refused at ingest: their data broke their type's contract");

  storeOptions(
    quarantine
      .command('list')
      .description('quarantined events, newest first')
      .option('-t, --type <type>', 'only this event type')
      .option('-n, --limit <n>', 'how many', '50')
      .option('--json', 'print JSON'),
  ).action(async (opts: ListOptions) => {
    const limit = parsePositiveInt(opts.limit, '--limit');
    const list =
      (await withQuarantine(opts, (q) =>
        q.list({ limit, ...(opts.type === undefined ? {} : { type: opts.type }) }),
      )) ?? [];
    if (opts.json === true) return printJson(list);
    printTable(
      ['id', 'event', 'contract', 'since', 'issues'],
      list.map((q) => [
        q.id,
        `${q.event.type} ${q.event.id}`,
        q.dataschema ?? '',
        localTime(q.quarantinedAt),
        shorten(describeIssues(q.issues), 70),
      ]),
      'the quarantine is empty',
    );
  });

  storeOptions(
    quarantine
      .command('show')
      .description('one quarantined event: what is wrong with it, and the event')
      .argument('<id>')
      .option('--json', 'print JSON'),
  ).action(async (id: string, opts: StoreOptions & { json?: boolean }) => {
    const found = await withQuarantine(opts, (q) => q.show(id));
    if (found === undefined)
      throw new UsageError(`no quarantined event with id ${id} (see agentd quarantine list)`);
    if (opts.json === true) return printJson(found);
    process.stdout.write(describe(found));
  });

  storeOptions(
    quarantine
      .command('replay')
      .description(
        'check quarantined events again with the current contracts; publish those that pass',
      )
      .argument('[ids...]', 'quarantine ids')
      .option('--all', 'every quarantined event (or every one of --type)')
      .option('-t, --type <type>', 'with --all: only this event type')
      .option('--json', 'print JSON'),
  ).action(async (ids: string[], opts: BulkOptions) => {
    checkSelection(ids, opts.all, {
      ...QUARANTINE_IDS,
      filter: { flag: '--type', value: opts.type },
    });
    const outcome = await withQuarantine(opts, async (q) => q.replay(await select(q, ids, opts)));
    if (outcome === undefined)
      return reportCount('replayed', 0, 'quarantined event', opts.json === true);
    if (opts.json === true) printJson(outcome);
    else {
      const lines = [
        `published ${outcome.published.length}` +
          (outcome.duplicates.length > 0
            ? `, ${outcome.duplicates.length} already stored (dropped)`
            : '') +
          `, still refused ${outcome.refused.length}`,
        ...outcome.refused.map((r) => `  ${r.id}: ${describeIssues(r.issues)}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    if (outcome.missing.length > 0)
      throw new UsageError(`no quarantined event with id ${outcome.missing.join(', ')}`);
    if (outcome.refused.length > 0)
      throw new Error(
        `${outcome.refused.length} event${outcome.refused.length === 1 ? '' : 's'} still break${outcome.refused.length === 1 ? 's' : ''} ${outcome.refused.length === 1 ? 'its' : 'their'} contract: ${shorten(describeIssues(outcome.refused[0]?.issues ?? []), 120)}`,
      );
  });

  storeOptions(
    quarantine
      .command('purge')
      .description('delete quarantined events for good')
      .argument('[ids...]', 'quarantine ids')
      .option('--all', 'every quarantined event (or every one of --type)')
      .option('-t, --type <type>', 'with --all: only this event type')
      .option('--json', 'print JSON'),
  ).action(async (ids: string[], opts: BulkOptions) => {
    checkSelection(ids, opts.all, {
      ...QUARANTINE_IDS,
      filter: { flag: '--type', value: opts.type },
    });
    const count = await withQuarantine(opts, async (q) =>
      q.purge(ids.length === 0 && opts.type === undefined ? 'all' : await select(q, ids, opts)),
    );
    reportCount('purged', count ?? 0, 'quarantined event', opts.json === true);
  });
}

/** Runs `fn` on the configured store's quarantine; undefined when there is no store yet. */
async function withQuarantine<T>(
  opts: StoreOptions,
  fn: (quarantine: Quarantine) => Promise<T>,
): Promise<T | undefined> {
  const store = await locateStore(opts);
  return withStore(await openExistingBus(store), (bus) => {
    const quarantine = (bus as Bus).quarantine;
    if (quarantine === undefined)
      throw new UsageError(
        'this bus keeps no quarantine (the NATS bus does not check contracts yet)',
      );
    return fn(quarantine);
  });
}

async function select(quarantine: Quarantine, ids: string[], opts: BulkOptions): Promise<string[]> {
  if (ids.length > 0) return ids;
  const all = await quarantine.list({
    limit: Number.MAX_SAFE_INTEGER,
    ...(opts.type === undefined ? {} : { type: opts.type }),
  });
  // Oldest first, so a replayed batch is published in the order it first arrived.
  return all.map((q) => q.id).reverse();
}

function describe(q: QuarantinedEvent): string {
  const lines = [
    `quarantined event ${q.id}  since ${localTime(q.quarantinedAt)}  checked ${q.checks} time${q.checks === 1 ? '' : 's'} (last ${localTime(q.checkedAt)})`,
    `contract: ${q.dataschema ?? '(none)'}`,
    'issues:',
    ...q.issues.map((i) => `  ${i.path}: expected ${i.expected}, got ${i.got}`),
    'event:',
    JSON.stringify(q.event, null, 2),
  ];
  return `${lines.join('\n')}\n`;
}
