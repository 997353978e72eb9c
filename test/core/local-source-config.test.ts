// Config of cron, fs and process sources: what is accepted, and errors that name the bad field.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/core/config.js';
import { ValidationError } from '../../src/core/errors.js';

function issuesOf(sources: unknown[]): string[] {
  try {
    validateConfig({ sources }, 'agentd.config.ts');
  } catch (error) {
    if (error instanceof ValidationError) return [...error.issues];
    throw error;
  }
  return [];
}

describe('cron, fs and process source config', () => {
  it('accepts each kind with its documented fields', () => {
    expect(
      issuesOf([
        {
          kind: 'cron',
          name: 'nightly',
          schedule: '30 2 * * *',
          timezone: 'Europe/Berlin',
          missed: 'catchup',
          maxCatchup: 5,
          graceMs: 30_000,
          payload: { report: 'daily' },
        },
        { kind: 'cron', name: 'every-10s', schedule: '*/10 * * * * *' },
        { kind: 'cron', name: 'daily', schedule: '@daily' },
        {
          kind: 'fs',
          name: 'docs',
          paths: ['docs', 'src/**/*.ts'],
          ignore: ['**/*.tmp'],
          debounceMs: 100,
        },
        {
          kind: 'process',
          name: 'dev',
          command: ['npm', 'run', 'dev'],
          restart: 'always',
          backoff: { initialMs: 500, maxMs: 30_000 },
          tailLines: 50,
        },
        {
          kind: 'process',
          name: 'tests',
          command: 'npm test',
          schedule: '0 3 * * *',
          timeoutMs: 600_000,
        },
      ]),
    ).toEqual([]);
  });

  it('names the field of a bad cron expression, time zone or policy', () => {
    const issues = issuesOf([
      { kind: 'cron', schedule: '61 * * * *' },
      { kind: 'cron', name: 'b', schedule: '* * * * *', timezone: 'Mars/Olympus' },
      { kind: 'cron', name: 'c', schedule: '* * * * *', maxCatchup: 3 },
      { kind: 'cron', name: 'd', schedule: '* * * * *', missed: 'sometimes' },
    ]);
    expect(issues).toEqual([
      expect.stringMatching(/^sources\[0\]\.schedule: expected a cron expression .*minute: 61/),
      expect.stringMatching(/^sources\[1\]\.timezone: expected an IANA time zone/),
      expect.stringMatching(/^sources\[2\]\.maxCatchup: expected missed: 'catchup'/),
      expect.stringMatching(/^sources\[3\]\.missed: /),
    ]);
  });

  it('refuses a restart policy on a scheduled command, and schedule fields without a schedule', () => {
    const issues = issuesOf([
      { kind: 'process', command: 'make', schedule: '0 * * * *', restart: 'always' },
      { kind: 'process', name: 'p2', command: 'make', timezone: 'UTC' },
      { kind: 'process', name: 'p3', command: 'make', backoff: { initialMs: 5_000, maxMs: 1_000 } },
      { kind: 'process', name: 'p4', command: [] },
    ]);
    expect(issues).toEqual([
      expect.stringMatching(/^sources\[0\]\.restart: a scheduled command runs once per slot/),
      expect.stringMatching(/^sources\[1\]\.timezone: expected a schedule alongside it/),
      expect.stringMatching(
        /^sources\[2\]\.backoff\.maxMs: expected maxMs to be at least initialMs/,
      ),
      expect.stringMatching(/^sources\[3\]\.command/),
    ]);
  });

  it('wants at least one path to watch', () => {
    expect(issuesOf([{ kind: 'fs', paths: [] }])).toEqual([
      expect.stringMatching(/^sources\[0\]\.paths/),
    ]);
  });
});
