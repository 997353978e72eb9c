// The shape the dlq, quarantine and outbox commands share: every subcommand takes --config and
// --data-dir; `show <id>` prints one item (or its JSON); bulk commands take ids or --all (with an
// optional filter that only goes with --all), checked before any store is opened, so bad arguments
// fail even on a fresh directory.
import type { Command } from 'commander';
import {
  checkSelection,
  printJson,
  UsageError,
  type IdSelection,
  type StoreOptions,
} from './cli-support.js';

export interface BulkOptions extends StoreOptions {
  all?: boolean;
  json?: boolean;
}

/** `parent <name>` with the options that locate the store. */
export function storeCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory');
}

export interface ShowSpec<T> {
  description: string;
  /** The error for an id that names nothing, e.g. `no dead letter with id 7 (see agentd dlq list)`. */
  missing(id: string): string;
  find(id: string, opts: StoreOptions): Promise<T | undefined>;
  describe(item: T): string;
}

/** `parent show <id> [--json]`. */
export function addShowCommand<T>(parent: Command, spec: ShowSpec<T>): void {
  storeCommand(parent, 'show', spec.description)
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: StoreOptions & { json?: boolean }) => {
      const found = await spec.find(id, opts);
      if (found === undefined) throw new UsageError(spec.missing(id));
      if (opts.json === true) return printJson(found);
      process.stdout.write(spec.describe(found));
    });
}

export interface BulkSpec<O extends BulkOptions> {
  name: string;
  description: string;
  /** How the ids are named in errors and where they are listed. */
  selection: Omit<IdSelection, 'filter'>;
  /** What `--all` selects, e.g. "every dead letter (or every one of --route)". */
  all: string;
  /** A filter flag that narrows --all: commander flags, help text, and its option's name. */
  filter?: { flags: string; description: string; option: keyof O & string };
  /** Further options (flags, help text) that go with ids and --all alike. */
  options?: readonly (readonly [string, string])[];
  run(ids: string[], opts: O): Promise<void>;
}

/** `parent <name> [ids...] [--all [filter]] [--json]`. */
export function addBulkCommand<O extends BulkOptions>(parent: Command, spec: BulkSpec<O>): Command {
  const command = storeCommand(parent, spec.name, spec.description)
    .argument('[ids...]', `${spec.selection.idNoun}s`)
    .option('--all', spec.all);
  const filter = spec.filter;
  if (filter !== undefined) command.option(filter.flags, filter.description);
  for (const [flags, description] of spec.options ?? []) command.option(flags, description);
  return command.option('--json', 'print JSON').action(async (ids: string[], opts: O) => {
    const value = filter === undefined ? undefined : (opts[filter.option] as string | undefined);
    checkSelection(ids, opts.all, {
      ...spec.selection,
      ...(filter === undefined ? {} : { filter: { flag: flagOf(filter.flags), value } }),
    });
    await spec.run(ids, opts);
  });
}

/** `--route` from `-r, --route <name>`. */
function flagOf(flags: string): string {
  return /--[\w-]+/.exec(flags)?.[0] ?? flags;
}
