// agentd events: listing with --type patterns and --limit, and --follow printing new events live.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectSuccess,
  expectUsageError,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
  spawnCli,
} from './run-cli.js';

setUpCliTests();

interface StoredEvent {
  seq: number;
  storedAt: string;
  event: { id: string; type: string };
  runs: Record<string, string>;
}

let dir: string;
const agentd = (...args: string[]) => runCli(args, { cwd: dir });
const types = (events: StoredEvent[]) => events.map((e) => e.event.type);

beforeAll(async () => {
  dir = makeTempDir();
  // Emitted one after another so their store order is known: newest is b.one.
  for (const type of ['a.one', 'a.two.deep', 'b.one']) expectSuccess(await agentd('emit', type));
});

describe.concurrent('agentd events', () => {
  it('lists events newest first as a table by default', async () => {
    const result = await agentd('events');
    expectSuccess(result);
    const at = (type: string) => result.stdout.indexOf(type);
    expect(at('b.one')).toBeGreaterThan(-1);
    expect(at('a.two.deep')).toBeGreaterThan(at('b.one'));
    expect(at('a.one')).toBeGreaterThan(at('a.two.deep'));
    expect(result.stdout).toContain('(no route)');
  });

  it('prints parseable JSON for --json', async () => {
    const events = parseJson<StoredEvent[]>(await agentd('events', '--json'));
    expect(types(events)).toEqual(['b.one', 'a.two.deep', 'a.one']);
    expect(events[0]!.runs).toEqual({});
  });

  it('matches one segment with a trailing * in --type', async () => {
    expect(types(parseJson(await agentd('events', '--type', 'a.*', '--json')))).toEqual(['a.one']);
  });

  it('matches one or more segments with a trailing ** in --type', async () => {
    expect(types(parseJson(await agentd('events', '--type', 'a.**', '--json')))).toEqual([
      'a.two.deep',
      'a.one',
    ]);
  });

  it('shows only the newest events up to --limit', async () => {
    expect(types(parseJson(await agentd('events', '--limit', '1', '--json')))).toEqual(['b.one']);
  });

  it('exits 2 with one line for --limit abc', async () => {
    expectUsageError(await agentd('events', '--limit', 'abc'), '--limit', '"abc"');
  });

  it('exits 2 with one line for a --type pattern that cannot match', async () => {
    expectUsageError(await agentd('events', '--type', 'a b'), 'type pattern "a b"');
  });

  it('prints an empty JSON array on a directory without a store', async () => {
    const empty = makeTempDir();
    expect(parseJson(await runCli(['events', '--json'], { cwd: empty }))).toEqual([]);
  });
});

describe('agentd events --follow', () => {
  it('prints an event emitted after it started, one JSON object per line', async () => {
    const follower = spawnCli(['events', '--follow', '--json', '--type', 'a.**'], { cwd: dir });
    try {
      // The existing matching events come first; once they are out, it is polling for new ones.
      await follower.waitForStdout((out) => out.includes('"a.one"'));
      // b.ignored goes first: by the time a.followed shows, it has been scanned and left out.
      expectSuccess(await agentd('emit', 'b.ignored'));
      expectSuccess(await agentd('emit', 'a.followed'));
      await follower.waitForStdout((out) => out.includes('"a.followed"'));
      const lines = follower.stdout.trim().split('\n');
      const followed = lines.map((line) => JSON.parse(line) as StoredEvent);
      expect(types(followed)).toEqual(['a.one', 'a.two.deep', 'a.followed']);
      // Ctrl-C ends it cleanly.
      expect(await follower.stop('SIGINT')).toEqual({ code: 0, signal: null });
    } finally {
      await follower.stop('SIGKILL');
    }
  });
});
