// Bursts of file changes become few events: debounce, a ceiling on how long a burst is held, a cap
// on paths per event, and one net change per path.
import { describe, expect, it } from 'vitest';
import {
  ChangeCoalescer,
  combine,
  type FileChange,
} from '../../../src/sources/fs/change-coalescer.js';
import { ManualClock } from '../../fixtures/manual-clock.js';

function coalescer(options: { debounceMs?: number; maxWaitMs?: number; maxPaths?: number } = {}) {
  const clock = new ManualClock(0);
  const bursts: FileChange[][] = [];
  const c = new ChangeCoalescer({
    debounceMs: options.debounceMs ?? 100,
    maxWaitMs: options.maxWaitMs ?? 1_000,
    maxPaths: options.maxPaths ?? 1_000,
    clock,
    flush: (changes) => bursts.push(changes),
  });
  return { clock, bursts, c };
}

describe('ChangeCoalescer', () => {
  it('publishes a burst once it has been quiet for debounceMs', async () => {
    const { clock, bursts, c } = coalescer();
    c.add('a.txt', 'add');
    await clock.advanceBy(50);
    c.add('b.txt', 'add');
    await clock.advanceBy(99);
    expect(bursts).toEqual([]);
    await clock.advanceBy(1);
    expect(bursts).toEqual([
      [
        { path: 'a.txt', kind: 'add' },
        { path: 'b.txt', kind: 'add' },
      ],
    ]);
  });

  it('does not hold a burst that never goes quiet longer than maxWaitMs', async () => {
    const { clock, bursts, c } = coalescer({ debounceMs: 100, maxWaitMs: 300 });
    for (let i = 0; i < 10; i++) {
      c.add(`f${i}`, 'change');
      await clock.advanceBy(50);
    }
    await clock.advanceBy(100);
    expect(bursts.map((b) => b.length)).toEqual([6, 4]);
  });

  it('splits a burst at maxPaths', () => {
    const { bursts, c } = coalescer({ maxPaths: 3 });
    for (let i = 0; i < 7; i++) c.add(`f${i}`, 'add');
    c.flushNow();
    expect(bursts.map((b) => b.length)).toEqual([3, 3, 1]);
  });

  it('reports one net change per path, in the order paths were first seen', () => {
    const { bursts, c } = coalescer();
    c.add('new.txt', 'add');
    c.add('saved.txt', 'unlink');
    c.add('new.txt', 'change');
    c.add('saved.txt', 'add');
    c.add('temp.txt', 'add');
    c.add('temp.txt', 'unlink');
    c.add('gone.txt', 'change');
    c.add('gone.txt', 'unlink');
    c.flushNow();
    expect(bursts).toEqual([
      [
        { path: 'new.txt', kind: 'add' },
        { path: 'saved.txt', kind: 'change' },
        { path: 'gone.txt', kind: 'unlink' },
      ],
    ]);
  });

  it('combines directory changes the same way, and a file replaced by a directory takes the last kind', () => {
    expect(combine('unlinkDir', 'addDir')).toBe('addDir');
    expect(combine('addDir', 'unlinkDir')).toBeUndefined();
    expect(combine('unlink', 'addDir')).toBe('addDir');
    expect(combine(undefined, 'change')).toBe('change');
    expect(combine('change', 'change')).toBe('change');
  });
});
