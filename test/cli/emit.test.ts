// agentd emit without a running daemon: events go straight into the store; bad input exits 2.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectSuccess,
  expectUsageError,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
} from './run-cli.js';

setUpCliTests();

interface EmitResult {
  id: string;
  source: string;
  duplicate: boolean;
  via: string;
}

interface StoredEvent {
  seq: number;
  event: { id: string; type: string; source: string; data?: unknown; partitionkey?: string };
  runs: Record<string, string>;
}

/** The store the emits below share, and what each left there. */
let dir: string;
let plain: { stdout: string; id: string };
const results: Record<string, EmitResult> = {};
let stored: StoredEvent[];
const storedEvent = (name: string) => stored.find((e) => e.event.id === results[name]!.id)!;

beforeAll(async () => {
  dir = makeTempDir();
  writeFileSync(join(dir, 'data.json'), '{"from":"file","list":[1,2]}');
  // The first creates the store; the rest write to it side by side.
  const first = await runCli(['emit', 'order.created', '--data', '{"n":1}'], { cwd: dir });
  expectSuccess(first);
  plain = { stdout: first.stdout, id: first.stdout.split(' ')[1]! };
  const variants: Record<string, { args: string[]; input?: string }> = {
    json: { args: [] },
    file: { args: ['--data-file', 'data.json'] },
    stdin: { args: ['--data-file', '-'], input: '{"from":"stdin"}\n' },
    keyed: { args: ['--key', 'order-7', '--source', 'test://me'] },
  };
  await Promise.all(
    Object.entries(variants).map(async ([name, { args, input }]) => {
      const run = await runCli(['emit', `variant.${name}`, ...args, '--json'], {
        cwd: dir,
        ...(input === undefined ? {} : { input }),
      });
      results[name] = parseJson<EmitResult>(run);
    }),
  );
  stored = parseJson<StoredEvent[]>(await runCli(['events', '--json'], { cwd: dir }));
});

describe.concurrent('agentd emit with no daemon', () => {
  it('stores the event and says so, naming the store', async () => {
    expect(plain.stdout).toMatch(/^order\.created \S+ \(stored; it runs when the daemon runs\)/);
    expect(plain.stdout).toContain(`via ${join(dir, '.agentd', 'agentd.db')}`);
  });

  it('events --json shows the stored event with its data', async () => {
    expect(stored).toHaveLength(5);
    expect(stored.find((e) => e.event.id === plain.id)?.event).toMatchObject({
      type: 'order.created',
      data: { n: 1 },
    });
  });

  it('prints a JSON result with the id, source and store for --json', async () => {
    expect(results.json).toMatchObject({ source: 'agentd://cli', duplicate: false });
    expect(results.json!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(results.json!.via).toBe(join(dir, '.agentd', 'agentd.db'));
  });

  it('reads the data from a file with --data-file', async () => {
    expect(storedEvent('file').event.data).toEqual({ from: 'file', list: [1, 2] });
  });

  it('reads the data from stdin with --data-file -', async () => {
    expect(storedEvent('stdin').event.data).toEqual({ from: 'stdin' });
  });

  it('sets the partition key from --key and the source from --source', async () => {
    expect(storedEvent('keyed').event).toMatchObject({
      partitionkey: 'order-7',
      source: 'test://me',
    });
  });

  it('stores into --data-dir instead of ./.agentd', async () => {
    const dir = makeTempDir();
    const result = parseJson<EmitResult>(
      await runCli(['emit', 'a.b', '--data-dir', 'elsewhere', '--json'], { cwd: dir }),
    );
    expect(result.via).toBe(join(dir, 'elsewhere', 'agentd.db'));
  });

  it('reports a re-used --id as a duplicate and stores it once', async () => {
    const dir = makeTempDir();
    const first = parseJson<EmitResult>(
      await runCli(['emit', 'a.b', '--id', 'evt-1', '--json'], { cwd: dir }),
    );
    expect(first).toMatchObject({ id: 'evt-1', duplicate: false });
    const again = await runCli(['emit', 'a.b', '--id', 'evt-1'], { cwd: dir });
    expectSuccess(again);
    expect(again.stdout).toContain('evt-1 (duplicate, dropped)');
    const events = parseJson<StoredEvent[]>(await runCli(['events', '--json'], { cwd: dir }));
    expect(events.map((e) => e.event.id)).toEqual(['evt-1']);
  });
});

describe.concurrent('agentd emit with bad input', () => {
  it('exits 2 with one line naming --data for malformed JSON, storing nothing', async () => {
    const dir = makeTempDir();
    expectUsageError(
      await runCli(['emit', 'a.b', '--data', '{not json'], { cwd: dir }),
      '--data is not valid JSON',
    );
    expect(existsSync(join(dir, '.agentd'))).toBe(false);
  });

  it('exits 2 with one line naming the file for malformed JSON in --data-file', async () => {
    const dir = makeTempDir();
    writeFileSync(join(dir, 'bad.json'), '{"a": 1,\n"b": }\n');
    expectUsageError(
      await runCli(['emit', 'a.b', '--data-file', 'bad.json'], { cwd: dir }),
      '--data-file bad.json is not valid JSON',
    );
  });

  it('exits 2 with one line for malformed JSON on stdin', async () => {
    const dir = makeTempDir();
    expectUsageError(
      await runCli(['emit', 'a.b', '--data-file', '-'], { cwd: dir, input: 'nope' }),
      '--data-file - is not valid JSON',
    );
  });

  it('exits 2 with one line for a --data-file that does not exist', async () => {
    const dir = makeTempDir();
    expectUsageError(
      await runCli(['emit', 'a.b', '--data-file', 'missing.json'], { cwd: dir }),
      '--data-file missing.json',
      'ENOENT',
    );
  });

  it('exits 2 when given both --data and --data-file', async () => {
    const dir = makeTempDir();
    expectUsageError(
      await runCli(['emit', 'a.b', '--data', '{}', '--data-file', 'x.json'], { cwd: dir }),
      'either --data or --data-file',
    );
  });

  it('exits 2 naming the type field for a type with a space', async () => {
    const dir = makeTempDir();
    expectUsageError(await runCli(['emit', 'has space'], { cwd: dir }), /\btype: expected/);
  });

  it('exits 2 for a --delay-ms that is not a positive whole number', async () => {
    const dir = makeTempDir();
    expectUsageError(
      await runCli(['emit', 'a.b', '--delay-ms', 'soon'], { cwd: dir }),
      '--delay-ms',
    );
  });
});
