// From config entries to cron, fs and process sources: names, kinds, and relative paths read from
// the config file's directory.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/core/config.js';
import { createSources } from '../../src/sources/create-sources.js';
import type { ProcessSource } from '../../src/sources/process/process-source.js';
import { log } from './local-bus.js';

describe('createSources for cron, fs and process entries', () => {
  it('makes one source per entry, named after its kind unless named, with paths from baseDir', () => {
    const config = validateConfig(
      {
        sources: [
          { kind: 'cron', schedule: '0 * * * *' },
          { kind: 'fs', name: 'docs', paths: ['docs'] },
          { kind: 'process', name: 'api', command: ['node', 'server.js'], cwd: 'services/api' },
        ],
      },
      'agentd.config.ts',
    );
    const sources = createSources(config.sources, {
      env: {},
      log,
      node: 'n',
      baseDir: '/srv/project',
    });
    expect(sources.map((s) => [s.kind, s.name])).toEqual([
      ['cron', 'cron'],
      ['fs', 'docs'],
      ['process', 'api'],
    ]);
    expect((sources[2] as ProcessSource)['options'].cwd).toBe('/srv/project/services/api');
  });
});
