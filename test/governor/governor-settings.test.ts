// From the config's governor section to the worker's settings.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/core/config.js';
import { on } from '../../src/core/route.js';
import { governorSettings } from '../../src/governor/governor-settings.js';
import { MemoryGovernorStore } from '../../src/governor/governor-store.js';

const handler = () => undefined;

describe('governor settings', () => {
  it('carry the global budget and the loop limits given, and nothing else', () => {
    const config = validateConfig(
      {
        governor: { budget: { tokens: 10, window: 'day' }, loop: { maxCycles: 5 } },
        routes: [on('a.x', { handler })],
      },
      'test',
    );
    const store = new MemoryGovernorStore();
    expect(governorSettings(config, store)).toEqual({
      store,
      budget: { tokens: 10, window: 'day' },
      loop: { maxCycles: 5 },
    });
  });

  it('reject worker.maxDepth, which moved to governor.loop.maxDepth', () => {
    expect(() => validateConfig({ worker: { maxDepth: 4 } }, 'agentd.config.ts')).toThrow(/worker/);
    expect(() =>
      validateConfig({ governor: { loop: { maxDepth: 0 } } }, 'agentd.config.ts'),
    ).toThrow(/governor\.loop\.maxDepth/);
  });
});
