// The fs source behind the backlog gate: bursts refused while the route is full are merged into
// one bounded set and published as one fs.changed (with how many bursts it stands for and how many
// paths it left out) once there is room; held changes still refused at shutdown are logged.
// Real file system events; time (debounce, Retry-After) on a controllable clock.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/bus/bus.js';
import { FsSource, type FsChangedData } from '../../src/sources/fs/fs-source.js';
import type { ManualClock } from '../fixtures/manual-clock.js';
import { gatedRoute } from '../governor/backpressure-view.js';
import { openLocalBus, startSource, stopSources, type LocalBus } from './local-bus.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await stopSources();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Watch {
  bus: LocalBus;
  base: string;
  clock: ManualClock;
  route: Subscription;
  /** Aborts the source and waits until it stopped. */
  stop(): Promise<void>;
  lines: Array<Record<string, unknown>>;
}

/** An fs source on `<base>/docs` whose route `on-docs` may hold one unfinished delivery. */
async function watch(): Promise<Watch> {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'agentd-fs-coalesce-')));
  mkdirSync(join(base, 'docs'));
  const bus = openLocalBus();
  cleanups.push(() => rmSync(base, { recursive: true, force: true }));
  cleanups.push(() => bus.close());
  const { route, clock, gate, lines, log } = await gatedRoute(
    bus.bus,
    'on-docs',
    ['fs.changed'],
    'debug',
  );
  const source = new FsSource({
    name: 'docs',
    paths: ['docs'],
    baseDir: base,
    debounceMs: 100,
    maxWaitMs: 1_000,
    maxPaths: 3,
    rescanMs: 1_000,
    clock,
    log,
  });
  const stop = await startSource(source, gate.guard(bus.publish));
  return { bus, base, clock, route, stop, lines };
}

const published = (w: Watch) => w.bus.stored('fs.changed').map((e) => e.data as FsChangedData);
const write = (w: Watch, name: string) => writeFileSync(join(w.base, 'docs', name), name);

/** Moves the clock on in small steps while real file events come in, until `done`. */
async function pump(w: Watch, what: string, done: () => boolean, stepMs = 100): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
    await w.clock.advanceBy(stepMs);
  }
}

const logged =
  (w: Watch, text: string, fields: Record<string, unknown> = {}) =>
  () =>
    w.lines.some(
      (l) =>
        String(l.msg).includes(text) &&
        Object.entries(fields).every(([key, value]) => l[key] === value),
    );

async function fillRoute(w: Watch): Promise<void> {
  write(w, 'a.md');
  await pump(w, 'the first burst', () => published(w).length === 1);
  write(w, 'b.md');
  await pump(w, 'the second burst to be held', logged(w, 'held back while the route backlog'));
}

describe('fs source under backpressure', () => {
  it('merges the bursts refused while its route is full into one bounded fs.changed, published when there is room', async () => {
    const w = await watch();
    await fillRoute(w);
    write(w, 'c.md');
    write(w, 'd.md');
    write(w, 'e.md');
    // b.md is held; of c, d and e (in one burst or more) two fit in maxPaths, one is counted.
    await pump(
      w,
      'the later bursts to join',
      logged(w, 'still held back', { paths: 3, omitted: 1 }),
    );
    expect(published(w)).toHaveLength(1);

    for (const delivery of await w.route.pull({ max: 1, waitMs: 0 })) await delivery.ack();
    await pump(w, 'the held bursts to be published', () => published(w).length === 2, 1_000);
    const merged = published(w)[1]!;
    // At most maxPaths (3) listed; the path past them is counted, so a consumer knows to rescan.
    expect(merged.changes).toHaveLength(3);
    expect(merged.changes[0]).toEqual({ path: 'docs/b.md', kind: 'add' });
    expect(merged.omitted).toBe(1);
    expect(merged.coalesced).toBeGreaterThanOrEqual(2);
    expect(w.lines).toContainEqual(
      expect.objectContaining({
        msg: `published ${merged.coalesced} held bursts of file changes as one fs.changed`,
        paths: 3,
        omitted: 1,
      }),
    );
  });

  it('logs what is still held when it stops with the route still full', async () => {
    const w = await watch();
    await fillRoute(w);
    await w.stop();
    expect(published(w)).toHaveLength(1);
    expect(w.lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        bursts: 1,
        paths: 1,
        msg: 'stopping while the route backlog is still full: these held changes are not reported',
      }),
    );
  });
});
