// The CLI's argument handling shared by all commands: unknown input exits 2 with one stderr line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectSuccess,
  expectUsageError,
  makeTempDir,
  parseJson,
  REPO,
  runCli,
  setUpCliTests,
} from './run-cli.js';

setUpCliTests();

let dir: string;
const agentd = (...args: string[]) => runCli(args, { cwd: dir });

beforeAll(() => {
  dir = makeTempDir();
});

describe.concurrent('agentd', () => {
  it('prints the package version for --version', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      version: string;
    };
    const result = await agentd('--version');
    expectSuccess(result);
    expect(result.stdout.trim()).toBe(version);
  });

  it('exits 2 with one line naming an unknown command', async () => {
    expectUsageError(await agentd('bogus'), "unknown command 'bogus'");
  });

  it('exits 2 with one line naming an unknown option', async () => {
    expectUsageError(await agentd('events', '--bogus'), "unknown option '--bogus'");
  });

  it('exits 2 with one line when a required argument is missing', async () => {
    expectUsageError(await agentd('emit'), "missing required argument 'type'");
  });
});

describe.concurrent('agentd runs', () => {
  it('exits 2 naming the allowed values for an unknown --status', async () => {
    expectUsageError(await agentd('runs', '--status', 'bogus'), '--status', 'completed', 'bogus');
  });

  it('exits 2 for a --limit that is not a positive whole number', async () => {
    expectUsageError(await agentd('runs', '--limit', '0'), '--limit');
  });

  it('prints an empty JSON array on a directory without a store', async () => {
    expect(parseJson<unknown[]>(await agentd('runs', '--json'))).toEqual([]);
  });
});

describe.concurrent('agentd dlq', () => {
  it('exits 2 for replay without ids or --all, even before a store exists', async () => {
    expectUsageError(await agentd('dlq', 'replay'), 'give one or more dead letter ids, or --all');
  });

  it('exits 2 for purge of an id that is not a number', async () => {
    expectUsageError(await agentd('dlq', 'purge', 'abc'), '"abc" is not a dead letter id');
  });

  it('exits 2 for replay given both ids and --all', async () => {
    expectUsageError(await agentd('dlq', 'replay', '1', '--all'), 'not both');
  });

  it('exits 2 with one line for show of an id when no store exists', async () => {
    expectUsageError(await agentd('dlq', 'show', '7'), 'no dead letter with id 7');
  });

  it('exits 2 for an unknown dlq subcommand', async () => {
    expectUsageError(await agentd('dlq', 'bogus'), "unknown command 'bogus'");
  });
});
