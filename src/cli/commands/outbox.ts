// agentd outbox list|show|approve|reject|retry|purge: recorded actions, the approval queue and the
// outbox's dead-letter queue. Changes are written to the store; a running daemon sees them within
// half a second.
import type { Command } from 'commander';
import { hostname, userInfo } from 'node:os';
import {
  ACTION_STATES,
  type ActionState,
  type OutboxStore,
  type StoredAction,
} from '../../bus/outbox-store.js';
import { actionEvents } from '../../outbox/action-events.js';
import {
  checkIds,
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
  type CliStore,
  type StoreOptions,
} from '../cli-support.js';
import {
  addBulkCommand,
  addShowCommand,
  storeCommand,
  type BulkOptions,
} from '../inspect-commands.js';

interface ListOptions extends StoreOptions {
  state?: string;
  sink?: string;
  route?: string;
  run?: string;
  limit: string;
  json?: boolean;
}

interface DecideOptions extends StoreOptions {
  by?: string;
  reason?: string;
  json?: boolean;
}

interface OutboxBulkOptions extends BulkOptions {
  state?: string;
}

const ACTION_IDS = { idNoun: 'action id', listCommand: 'agentd outbox list' };

export function registerOutbox(program: Command): void {
  const outbox = program
    .command('outbox')
    .description('actions recorded by handlers: list, approve or reject, retry dead ones');

  storeCommand(outbox, 'list', 'actions, newest first')
    .option('-s, --state <state>', `only this state: ${ACTION_STATES.join(', ')}`)
    .option('--sink <sink>', 'only this sink: github, slack, http, bus')
    .option('-r, --route <name>', 'only this route')
    .option('--run <id>', 'only this run')
    .option('-n, --limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(async (opts: ListOptions) => {
      const limit = parsePositiveInt(opts.limit, '--limit');
      const state = opts.state === undefined ? undefined : parseState(opts.state, '--state');
      const list = await withOutbox(opts, (store) =>
        store.list({
          limit,
          ...(state === undefined ? {} : { state }),
          ...(opts.sink === undefined ? {} : { sink: opts.sink }),
          ...(opts.route === undefined ? {} : { route: opts.route }),
          ...(opts.run === undefined ? {} : { runId: opts.run }),
        }),
      );
      if (opts.json === true) return printJson(list ?? []);
      printTable(
        ['id', 'state', 'action', 'target', 'route', 'attempts', 'recorded', 'note'],
        (list ?? []).map((a) => [
          a.id,
          a.state,
          `${a.sink}.${a.action}`,
          shorten(targetOf(a), 40),
          a.route,
          a.attempt,
          localTime(a.createdAt),
          shorten(noteOf(a), 50),
        ]),
        'no outbox actions',
      );
    });

  addShowCommand(outbox, {
    description: 'one action: parameters, state, result, every error',
    missing: (id) => `no outbox action with id ${id} (see agentd outbox list)`,
    find: (id, opts) => withOutbox(opts, (store) => store.show(id)),
    describe,
  });

  storeCommand(outbox, 'approve', 'send actions that wait for approval')
    .argument('<ids...>')
    .option('--by <name>', 'who approves (default: your user name)')
    .option('--json', 'print JSON')
    .action(async (ids: string[], opts: DecideOptions) => {
      checkIds(ids, ACTION_IDS);
      const approved = await withOutbox(opts, (store) => store.approve(ids, opts.by ?? operator()));
      reportDecision('approved', ids, approved ?? [], opts.json === true);
    });

  storeCommand(outbox, 'reject', 'never send actions that wait for approval')
    .argument('<ids...>')
    .option('--by <name>', 'who rejects (default: your user name)')
    .option('--reason <text>', 'why (kept with the action)')
    .option('--json', 'print JSON')
    .action(async (ids: string[], opts: DecideOptions) => {
      checkIds(ids, ACTION_IDS);
      const reason = opts.reason ?? 'rejected by an operator';
      const rejected = await withOutbox(opts, (outbox, located) => {
        const source = `agentd://${located.loaded.config.node ?? hostname()}`;
        return outbox.reject(ids, opts.by ?? operator(), reason, (action) =>
          actionEvents(outbox, action, { status: 'rejected', reason }, source),
        );
      });
      reportDecision('rejected', ids, rejected ?? [], opts.json === true);
    });

  addBulkCommand<OutboxBulkOptions>(outbox, {
    name: 'retry',
    description: 'send dead actions again (the outbox DLQ)',
    selection: ACTION_IDS,
    all: 'every dead action',
    async run(ids, opts) {
      const count = await withOutbox(opts, (store) =>
        store.retryDead(opts.all === true ? 'all' : ids),
      );
      reportCount('retried', count ?? 0, 'action', opts.json === true);
    },
  });

  addBulkCommand<OutboxBulkOptions>(outbox, {
    name: 'purge',
    description: 'delete finished actions: dead ones unless --state names another',
    selection: ACTION_IDS,
    all: 'every action in that state',
    options: [['-s, --state <state>', 'dead (default), done, rejected, expired or dry-run']],
    async run(ids, opts) {
      const state = opts.state === undefined ? 'dead' : parseState(opts.state, '--state');
      if (!['dead', 'done', 'rejected', 'expired', 'dry-run'].includes(state))
        throw new UsageError(`--state: only finished actions can be purged, not ${state}`);
      const count = await withOutbox(opts, (store) =>
        store.purge(opts.all === true ? 'all' : ids, [state]),
      );
      reportCount('purged', count ?? 0, 'action', opts.json === true);
    },
  });
}

async function withOutbox<T>(
  opts: StoreOptions,
  fn: (store: OutboxStore, located: CliStore) => Promise<T>,
): Promise<T | undefined> {
  const located = await locateStore(opts);
  // SQLite or NATS: both keep the outbox (on NATS, a daemon anywhere sees the change at once).
  return withStore(await openExistingBus(located), (bus) => fn(bus.outbox, located));
}

function parseState(value: string, flag: string): ActionState {
  if (!(ACTION_STATES as readonly string[]).includes(value))
    throw new UsageError(`${flag} expects one of ${ACTION_STATES.join(', ')}, got "${value}"`);
  return value as ActionState;
}

function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return 'cli';
  }
}

function reportDecision(verb: string, ids: string[], done: StoredAction[], json: boolean): void {
  if (json) return printJson({ [verb]: done.map((a) => a.id) });
  const missed = ids.filter((id) => !done.some((a) => a.id === id));
  process.stdout.write(`${verb} ${done.length} action${done.length === 1 ? '' : 's'}\n`);
  if (missed.length > 0)
    throw new UsageError(`not waiting for approval (or unknown): ${missed.join(', ')}`);
}

/** Where an action goes, in a few words: `acme/widgets#42`, `#C123`, a target's name. */
export function targetOf(action: StoredAction): string {
  const p = (action.params ?? {}) as Record<string, unknown>;
  if (action.sink === 'github') {
    const at = p.issue ?? p.pull;
    const sha = p.headSha ?? p.sha;
    const ref =
      typeof at === 'number' ? `#${at}` : typeof sha === 'string' ? `@${sha.slice(0, 7)}` : '';
    return `${String(p.repo)}${ref}`;
  }
  if (action.sink === 'slack') return String(p.channel);
  if (action.sink === 'http') return String(p.target);
  if (action.sink === 'bus') return String(p.type);
  return '';
}

function noteOf(action: StoredAction): string {
  if (action.reason !== null) return action.reason;
  if (action.state === 'pending-approval' && action.expiresAt !== undefined)
    return `expires ${localTime(new Date(action.expiresAt).toISOString())}`;
  return action.errors.at(-1)?.error ?? '';
}

function describe(a: StoredAction): string {
  const lines = [
    `action ${a.id}  ${a.sink}.${a.action}  state ${a.state}  attempts ${a.attempt}`,
    `route ${a.route}  run ${a.runId}  event ${a.cause.type} ${a.cause.id}`,
    `key ${a.key}  (position ${a.position}${a.lane === undefined ? '' : `, lane ${a.lane}`})`,
    `recorded ${localTime(a.createdAt)}  updated ${localTime(a.updatedAt)}${a.finishedAt === null ? '' : `  finished ${localTime(a.finishedAt)}`}`,
    ...(a.expiresAt === undefined
      ? []
      : [`approval expires ${localTime(new Date(a.expiresAt).toISOString())}`]),
    ...(a.decidedBy === null ? [] : [`decided by ${a.decidedBy}`]),
    ...(a.reason === null ? [] : [`reason: ${a.reason}`]),
    'params:',
    JSON.stringify(a.params, null, 2),
    ...(a.result === null ? [] : ['result:', JSON.stringify(a.result, null, 2)]),
    ...(a.errors.length === 0 ? [] : ['errors:']),
    ...a.errors.map(
      (e) =>
        `  #${e.attempt} ${localTime(e.at)}  ${e.error}${e.status === undefined ? '' : `  (HTTP ${e.status})`}${e.body === undefined ? '' : `\n     body: ${e.body}`}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
