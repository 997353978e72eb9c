// The process source with real child processes: crashes are restarted with backoff and each exit
// is an event; shutdown stops the command and everything it started; scheduled commands run once
// per slot.
import { afterEach, describe, expect, it } from 'vitest';
import {
  ProcessSource,
  type ProcessExitedData,
  type ProcessSourceOptions,
} from '../../../src/sources/process/process-source.js';
import { ManualClock } from '../../fixtures/manual-clock.js';
import { log, openLocalBus, startSource, stopSources, type LocalBus } from '../local-bus.js';

let local: LocalBus | undefined;

afterEach(async () => {
  await stopSources();
  await local?.close();
  local = undefined;
});

type Options = Partial<ProcessSourceOptions> & Pick<ProcessSourceOptions, 'command'>;

async function startProcess(
  options: Options,
): Promise<{ source: ProcessSource; stop: () => Promise<void> }> {
  local ??= openLocalBus();
  const source = new ProcessSource({
    name: 'worker',
    cwd: process.cwd(),
    restart: 'on-failure',
    backoff: { initialMs: 50, maxMs: 400 },
    tailLines: 20,
    stopGraceMs: 2_000,
    trust: 'operator',
    log,
    node: 'n1',
    ...options,
  });
  const stop = await startSource(source, local.publish, local.stateOf(source.name));
  return { source, stop };
}

const exits = () => local!.stored('process.exited').map((e) => e.data as ProcessExitedData);

async function until(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(exits())}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** True while any process of the group led by `pid` exists. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the command's current run, once it is spawned. */
async function pidOf(source: ProcessSource): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const pid = source['current']?.pid;
    if (pid !== undefined) return pid;
    if (Date.now() > deadline) throw new Error('the command was not spawned');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Killed orphans linger as zombies until init reaps them: allow it a moment. */
async function groupGone(pid: number): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return !groupAlive(pid);
}

describe('process source: supervision', () => {
  it('restarts a crashing command with doubling backoff, publishing each exit with its output tail', async () => {
    await startProcess({ command: 'echo starting; echo "it broke" >&2; exit 3' });
    await until('five exits', () => exits().length >= 5);
    const [first, ...rest] = local!.stored('process.exited');
    expect(first).toMatchObject({
      type: 'process.exited',
      source: 'process:worker',
      dataschema: 'agentd:process.exited/v1',
      partitionkey: 'worker',
      trust: 'operator',
      origin: 'n1',
    });
    expect(rest.every((e) => e.id !== first!.id)).toBe(true);

    const seen = exits().slice(0, 5);
    expect(seen.map((d) => d.restartInMs)).toEqual([50, 100, 200, 400, 400]);
    expect(seen.map((d) => d.restarts)).toEqual([0, 1, 2, 3, 4]);
    for (const exit of seen)
      expect(exit).toMatchObject({
        process: 'worker',
        command: 'echo starting; echo "it broke" >&2; exit 3',
        exitCode: 3,
        signal: null,
        reason: 'exited',
        restart: 'on-failure',
        willRestart: true,
        stdout: 'starting',
        stderr: 'it broke',
        scheduledAt: null,
      });
    // Each restart waited out its backoff.
    for (let i = 1; i < seen.length; i++) {
      const waited = Date.parse(seen[i]!.startedAt) - Date.parse(seen[i - 1]!.exitedAt);
      expect(waited).toBeGreaterThanOrEqual(seen[i - 1]!.restartInMs! - 5);
    }
  });

  it('on-failure leaves a clean exit alone; always restarts it; never runs a failing command once', async () => {
    await startProcess({ name: 'clean', command: ['true'] });
    await startProcess({ name: 'again', command: ['true'], restart: 'always' });
    await startProcess({ name: 'once', command: ['false'], restart: 'never' });
    await until(
      'three runs of "again"',
      () => exits().filter((d) => d.process === 'again').length >= 3,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const of = (name: string) => exits().filter((d) => d.process === name);
    expect(of('clean')).toEqual([
      expect.objectContaining({ exitCode: 0, willRestart: false, restartInMs: null }),
    ]);
    expect(of('once')).toEqual([
      expect.objectContaining({ exitCode: 1, willRestart: false, restart: 'never' }),
    ]);
    expect(
      of('again')
        .slice(0, 3)
        .map((d) => [d.exitCode, d.willRestart]),
    ).toEqual([
      [0, true],
      [0, true],
      [0, true],
    ]);
  });

  it('keeps only the last tailLines lines of each stream', async () => {
    await startProcess({
      command: [
        'node',
        '-e',
        'for (let i = 1; i <= 100; i++) console.log(`line ${i}`); console.error("x".repeat(5000))',
      ],
      restart: 'never',
      tailLines: 3,
    });
    await until('the exit', () => exits().length === 1);
    expect(exits()[0]!.stdout).toBe('line 98\nline 99\nline 100');
    expect(exits()[0]!.stderr).toBe(`${'x'.repeat(1_000)}…`);
  });

  it('reports a command that cannot start, and one stopped for running over timeoutMs', async () => {
    await startProcess({ name: 'missing', command: ['agentd-no-such-command'], restart: 'never' });
    await startProcess({
      name: 'slow',
      command: ['sleep', '30'],
      restart: 'never',
      timeoutMs: 200,
    });
    await until('both exits', () => exits().length === 2);
    const of = (name: string) => exits().find((d) => d.process === name)!;
    expect(of('missing')).toMatchObject({ reason: 'spawn-failed', exitCode: null, pid: null });
    expect(of('missing').error).toMatch(/ENOENT/);
    expect(of('slow')).toMatchObject({ reason: 'timeout', signal: 'SIGTERM', exitCode: null });
  });
});

describe('process source: shutdown', () => {
  it('stops the command and every process it started when the daemon stops, and reports it', async () => {
    const { source, stop } = await startProcess({
      command: 'sleep 300 & sleep 300 & wait',
      restart: 'always',
    });
    const pid = await pidOf(source);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(groupAlive(pid)).toBe(true);
    await stop();
    expect(await groupGone(pid)).toBe(true);
    expect(exits()).toEqual([
      expect.objectContaining({ reason: 'shutdown', signal: 'SIGTERM', willRestart: false }),
    ]);
  });

  it('kills a command that ignores SIGTERM once stopGraceMs has passed', async () => {
    const { source, stop } = await startProcess({
      command: [
        'node',
        '-e',
        'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)',
      ],
      stopGraceMs: 300,
    });
    const pid = await pidOf(source);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = Date.now();
    await stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await groupGone(pid)).toBe(true);
    expect(exits()).toEqual([expect.objectContaining({ reason: 'shutdown', signal: 'SIGKILL' })]);
  });
});

describe('process source: scheduled commands', () => {
  it('runs a one-shot command at each slot, once, and not again for that slot after a restart', async () => {
    const clock = new ManualClock('2026-01-01T09:59:30Z');
    const options: Options = {
      name: 'report',
      command: 'echo report for $SLOT_NAME',
      env: { SLOT_NAME: 'daily' },
      clock,
      schedule: {
        schedule: '* * * * *',
        timezone: 'UTC',
        missed: 'skip',
        maxCatchup: 10,
        graceMs: 60_000,
      },
    };
    const first = await startProcess(options);
    await clock.advanceTo('2026-01-01T10:00:10Z');
    expect(exits()).toEqual([
      expect.objectContaining({
        process: 'report',
        scheduledAt: '2026-01-01T10:00:00.000Z',
        exitCode: 0,
        stdout: 'report for daily',
        restart: null,
        willRestart: false,
      }),
    ]);
    await first.stop();

    await startProcess(options);
    await clock.advanceTo('2026-01-01T10:00:50Z');
    expect(exits()).toHaveLength(1);
    await clock.advanceTo('2026-01-01T10:01:00Z');
    expect(exits().map((d) => d.scheduledAt)).toEqual([
      '2026-01-01T10:00:00.000Z',
      '2026-01-01T10:01:00.000Z',
    ]);
  });

  it('does not hold up the start while a missed slot it catches up on runs', async () => {
    const clock = new ManualClock('2026-01-01T10:00:30Z');
    local = openLocalBus();
    await local
      .stateOf('slow')
      .set('cursor', JSON.stringify({ through: '2026-01-01T09:58:30.000Z' }));
    const startedAt = Date.now();
    await startProcess({
      name: 'slow',
      command: ['sleep', '1'],
      clock,
      schedule: {
        schedule: '* * * * *',
        timezone: 'UTC',
        missed: 'catchup',
        maxCatchup: 5,
        graceMs: 0,
      },
    });
    expect(Date.now() - startedAt).toBeLessThan(900);
    await until('the caught-up runs', () => exits().length === 2);
    expect(exits().map((d) => d.scheduledAt)).toEqual([
      '2026-01-01T09:59:00.000Z',
      '2026-01-01T10:00:00.000Z',
    ]);
  });
});
