// agentd quarantine list|show|replay|purge: events refused at ingest because their data broke their
// type's contract. A replay checks them again with the config's contracts as they are now.
import type { Command } from 'commander';
import type { Bus } from '../../bus/bus.js';
import type { Quarantine, QuarantinedEvent, QuarantineReplay } from '../../bus/quarantine.js';
import { describeIssues } from '../../core/ingest-gate.js';
import {
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
import {
  addBulkCommand,
  addShowCommand,
  storeCommand,
  type BulkOptions,
} from '../inspect-commands.js';

interface ListOptions extends StoreOptions {
  type?: string;
  limit: string;
  json?: boolean;
}

interface QuarantineBulkOptions extends BulkOptions {
  type?: string;
}

const QUARANTINE_IDS = { idNoun: 'quarantine id', listCommand: 'agentd quarantine list' };
const TYPE_FILTER = {
  flags: '-t, --type <type>',
  description: 'with --all: only this event type',
  option: 'type',
} as const;

export function registerQuarantine(program: Command): void {
  const quarantine = program
    .command('quarantine')
    .description("events refused at ingest: their data broke their type's contract");

  storeCommand(quarantine, 'list', 'quarantined events, newest first')
    .option('-t, --type <type>', 'only this event type')
    .option('-n, --limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(async (opts: ListOptions) => {
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

  addShowCommand(quarantine, {
    description: 'one quarantined event: what is wrong with it, and the event',
    missing: (id) => `no quarantined event with id ${id} (see agentd quarantine list)`,
    find: (id, opts) => withQuarantine(opts, (q) => q.show(id)),
    describe,
  });

  addBulkCommand<QuarantineBulkOptions>(quarantine, {
    name: 'replay',
    description:
      'check quarantined events again with the current contracts; publish those that pass',
    selection: QUARANTINE_IDS,
    all: 'every quarantined event (or every one of --type)',
    filter: TYPE_FILTER,
    async run(ids, opts) {
      const outcome = await withQuarantine(opts, async (q) => q.replay(await select(q, ids, opts)));
      if (outcome === undefined)
        return reportCount('replayed', 0, 'quarantined event', opts.json === true);
      reportReplay(outcome, opts.json === true);
    },
  });

  addBulkCommand<QuarantineBulkOptions>(quarantine, {
    name: 'purge',
    description: 'delete quarantined events for good',
    selection: QUARANTINE_IDS,
    all: 'every quarantined event (or every one of --type)',
    filter: TYPE_FILTER,
    async run(ids, opts) {
      const count = await withQuarantine(opts, async (q) =>
        q.purge(ids.length === 0 && opts.type === undefined ? 'all' : await select(q, ids, opts)),
      );
      reportCount('purged', count ?? 0, 'quarantined event', opts.json === true);
    },
  });
}

/** What a replay did; throws (exit code) when ids were missing or events are still refused. */
function reportReplay(outcome: QuarantineReplay, json: boolean): void {
  if (json) printJson(outcome);
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
  const refused = outcome.refused.length;
  if (refused > 0)
    throw new Error(
      `${refused} event${refused === 1 ? '' : 's'} still break${refused === 1 ? 's' : ''} ${refused === 1 ? 'its' : 'their'} contract: ${shorten(describeIssues(outcome.refused[0]?.issues ?? []), 120)}`,
    );
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

async function select(
  quarantine: Quarantine,
  ids: string[],
  opts: QuarantineBulkOptions,
): Promise<string[]> {
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
