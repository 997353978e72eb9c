// agentd exec: runs a command with its output passed through, publishes build.completed or
// build.failed (to the store, or to a running daemon), and exits with the command's own code.
import { describe, expect, it } from 'vitest';
import {
  expectUsageError,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
  startDaemon,
} from './run-cli.js';

setUpCliTests();

interface StoredEvent {
  event: {
    id: string;
    type: string;
    source: string;
    dataschema?: string;
    partitionkey?: string;
    trust: string;
    data: {
      command: string[];
      exitCode: number | null;
      signal: string | null;
      durationMs: number;
      stdout: string;
      stderr: string;
      error?: string;
    };
  };
}

async function storedEvents(cwd: string, args: string[] = []): Promise<StoredEvent[]> {
  return parseJson<StoredEvent[]>(await runCli(['events', '--json', ...args], { cwd }));
}

describe.concurrent('agentd exec', () => {
  it('agentd exec -- false publishes build.failed with exit code 1 and exits 1 itself', async () => {
    const dir = makeTempDir();
    const result = await runCli(['exec', '--', 'false'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^agentd: build\.failed \S+ \(exit 1 after \d+ ms\) via /);
    const [stored, ...rest] = await storedEvents(dir);
    expect(rest).toEqual([]);
    expect(stored!.event).toMatchObject({
      type: 'build.failed',
      source: 'agentd://cli',
      dataschema: 'agentd:exec/v1',
      trust: 'operator',
      data: { command: ['false'], exitCode: 1, signal: null },
    });
  });

  it('agentd exec -- true publishes build.completed and exits 0', async () => {
    const dir = makeTempDir();
    const result = await runCli(['exec', '--', 'true'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const [stored] = await storedEvents(dir);
    expect(stored!.event).toMatchObject({ type: 'build.completed', data: { exitCode: 0 } });
  });

  it("passes the output through, keeps its tail in the event, and exits with the command's code", async () => {
    const dir = makeTempDir();
    const script = 'for i in 1 2 3 4 5; do echo "out $i"; done; echo "err line" >&2; exit 3';
    const result = await runCli(
      [
        'exec',
        '--type-prefix',
        'ci.test',
        '--key',
        'repo-1',
        '--tail-lines',
        '2',
        '--',
        'sh',
        '-c',
        script,
      ],
      { cwd: dir },
    );
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('out 1\nout 2\nout 3\nout 4\nout 5\n');
    expect(result.stderr).toContain('err line\n');
    const [stored] = await storedEvents(dir);
    expect(stored!.event).toMatchObject({
      type: 'ci.test.failed',
      partitionkey: 'repo-1',
      data: { exitCode: 3, stdout: 'out 4\nout 5', stderr: 'err line' },
    });
  });

  it('exits 128 + the signal number when the command is killed, and 127 when it cannot run', async () => {
    const dir = makeTempDir();
    const killed = await runCli(['exec', '--', 'sh', '-c', 'kill -TERM $$'], { cwd: dir });
    expect(killed.code).toBe(143);
    const missing = await runCli(['exec', '--', 'agentd-no-such-command'], { cwd: dir });
    expect(missing.code).toBe(127);
    const events = await storedEvents(dir);
    expect(events.map((e) => [e.event.type, e.event.data.signal, e.event.data.exitCode])).toEqual([
      ['build.failed', null, null],
      ['build.failed', 'SIGTERM', null],
    ]);
    expect(events[0]!.event.data.error).toMatch(/ENOENT/);
  });

  it('refuses a type prefix that makes no event type, before running anything', async () => {
    const dir = makeTempDir();
    expectUsageError(
      await runCli(['exec', '--type-prefix', 'no spaces', '--', 'touch', 'ran'], { cwd: dir }),
      '--type-prefix',
    );
    expectUsageError(await runCli(['exec'], { cwd: dir }), 'command');
  });

  it('publishes through the running daemon when there is one', async () => {
    const dir = makeTempDir();
    const daemon = await startDaemon(dir, 'data');
    const result = await runCli(['exec', '--data-dir', 'data', '--', 'true'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`via ${daemon.url}`);
    const events = await storedEvents(dir, ['--data-dir', 'data', '--type', 'build.*']);
    expect(events.map((e) => e.event.type)).toEqual(['build.completed']);
    await daemon.process.stop();
  });
});
