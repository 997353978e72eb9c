// What every CLI command shares: the usage error (exit 2), locating the store, and output.
import type Database from 'better-sqlite3';
import Table from 'cli-table3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openBus, type AppBus } from '../app-stores.js';
import { openDatabase } from '../bus/sqlite/schema.js';
import { SqliteBus } from '../bus/sqlite/sqlite-bus.js';
import { historyPath } from '../history/nats-history.js';
import { loadConfig, resolveDataDir, type LoadedConfig } from '../config/load-config.js';
import { ingestGateFor } from '../contracts/config-contracts.js';

/** Bad arguments or input: one line on stderr, exit code 2. */
export class UsageError extends Error {}

export interface StoreOptions {
  config?: string;
  dataDir?: string;
}

export interface CliStore {
  loaded: LoadedConfig;
  dataDir: string;
  dbPath: string;
}

export async function locateStore(options: StoreOptions): Promise<CliStore> {
  const loaded = await loadConfig(options.config);
  const dataDir = resolveDataDir(loaded, options.dataDir);
  return { loaded, dataDir, dbPath: join(dataDir, 'agentd.db') };
}

/** Opens the store for a command; `undefined` when none exists yet (a read on a fresh directory). */
export function openExistingStore(store: CliStore): SqliteBus | undefined {
  if (!existsSync(store.dbPath)) {
    process.stderr.write(
      `note: no store at ${store.dbPath} yet (agentd start or agentd emit creates it)\n`,
    );
    return undefined;
  }
  return openSqliteStore(store);
}

export function openStore(store: CliStore): SqliteBus {
  return openSqliteStore(store);
}

/** True when the config puts the bus on NATS: there is no store file to look for. */
export function onNats(store: CliStore): boolean {
  return store.loaded.config.bus?.kind === 'nats';
}

/** The configured bus: NATS, or the SQLite store (undefined when none exists yet). */
export async function openExistingBus(store: CliStore): Promise<AppBus | undefined> {
  if (onNats(store)) return openBus(store.loaded.config, store.dataDir, { retention: false });
  return openExistingStore(store);
}

/** The configured bus, creating the SQLite store when missing. */
export async function openConfiguredBus(store: CliStore): Promise<AppBus> {
  if (onNats(store)) return openBus(store.loaded.config, store.dataDir, { retention: false });
  return openStore(store);
}

/** What the history commands (events, runs, trace) read: a file with the store's schema. */
export interface HistoryFile {
  readonly db: Database.Database;
  close(): Promise<void>;
}

/**
 * The history for `command`: the SQLite store (undefined when none exists yet), or on NATS the
 * history file a daemon serving HTTP from this data directory keeps (src/history), read-only.
 */
export function openHistoryFile(store: CliStore, command: string): HistoryFile | undefined {
  if (!onNats(store)) return openExistingStore(store);
  const path = historyPath(store.dataDir);
  if (!existsSync(path))
    throw new UsageError(
      `${command} reads the history a daemon on NATS keeps in ${path}, and there is none: run agentd start with this data directory, or use agentd status and agentd dlq`,
    );
  const db = openDatabase(path, { readonly: true });
  return {
    db,
    close: async () => {
      db.close();
    },
  };
}

export async function withStore<B extends { close(): Promise<void> }, T>(
  bus: B | undefined,
  fn: (bus: B) => Promise<T> | T,
): Promise<T | undefined> {
  if (bus === undefined) return undefined;
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(head: string[], rows: (string | number)[][], empty: string): void {
  if (rows.length === 0) {
    process.stdout.write(`${empty}\n`);
    return;
  }
  const table = new Table({ head, style: { head: [], border: [], compact: true } });
  table.push(...rows);
  process.stdout.write(`${table.toString()}\n`);
}

export function parsePositiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new UsageError(`${flag} expects a positive whole number, got "${value}"`);
  return Number(value);
}

export function shorten(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

export function localTime(iso: string | null): string {
  if (iso === null) return '';
  const d = new Date(iso);
  return d.toLocaleString('sv-SE', { hour12: false }).replace('T', ' ');
}

export function duration(ms: number | null): string {
  if (ms === null) return '';
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/** The store with the config's contracts: what the CLI publishes (emit, replays) is checked too. */
function openSqliteStore(store: CliStore): SqliteBus {
  const gate = ingestGateFor(store.loaded.config);
  return new SqliteBus({
    path: store.dbPath,
    retentionMs: 0,
    ...(gate === undefined ? {} : { gate }),
  });
}

/** How a bulk command (dlq, quarantine, outbox) names what it selects, for its messages. */
export interface IdSelection {
  /** As in `"x" is not a <idNoun>`, e.g. "dead letter id". */
  idNoun: string;
  /** The command that lists valid ids, e.g. "agentd dlq list". */
  listCommand: string;
  /** A filter flag that only makes sense with --all, and its value. */
  filter?: { flag: string; value: string | undefined };
}

/** Refuses an id that is not a whole number, naming where valid ids are listed. */
export function checkIds(ids: readonly string[], selection: IdSelection): void {
  const bad = ids.find((id) => !/^\d+$/.test(id));
  if (bad !== undefined)
    throw new UsageError(
      `"${bad}" is not a${/^[aeiou]/.test(selection.idNoun) ? 'n' : ''} ${selection.idNoun} (see ${selection.listCommand})`,
    );
}

/** Checks ids and --all before any store is opened, so bad arguments fail even on a fresh directory. */
export function checkSelection(
  ids: readonly string[],
  all: boolean | undefined,
  selection: IdSelection,
): void {
  if (ids.length > 0 && all === true) throw new UsageError('give ids or --all, not both');
  if (ids.length === 0 && all !== true)
    throw new UsageError(`give one or more ${selection.idNoun}s, or --all`);
  const filter = selection.filter;
  if (filter?.value !== undefined && all !== true)
    throw new UsageError(`${filter.flag} goes with --all`);
  checkIds(ids, selection);
}

/** `replayed 3 dead letters`, or `{"replayed":3}` with --json. */
export function reportCount(verb: string, count: number, noun: string, json: boolean): void {
  if (json) return printJson({ [verb]: count });
  process.stdout.write(`${verb} ${count} ${noun}${count === 1 ? '' : 's'}\n`);
}
