// agentd trace <event-id>: the tree an event caused, read from the store — runs with status,
// attempts and steps, the events they emitted and those events' runs, and errors of failed runs.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { toEvent } from '../../src/core/envelope.js';
import { NonRetryableError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker } from '../../src/runtime/worker.js';
import { eventually } from '../observe/observe-harness.js';
import {
  expectSuccess,
  expectUsageError,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
} from './run-cli.js';

setUpCliTests();

let dir: string;

beforeAll(async () => {
  dir = makeTempDir();
  const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  let done = 0;
  const route = (name: string, type: string, handler: Parameters<typeof on>[1]['handler']) => ({
    ...on(type, { handler, retries: { maxAttempts: 1 } }),
    name,
  });
  const worker = createWorker({
    bus,
    log: createLogger({ level: 'silent' }),
    source: 'agentd://test',
    routes: [
      route('review', 'pr.opened', async (_event, ctx) => {
        await ctx.step('fetch-diff', () => 'diff');
        await ctx.step('turn-1', () => ({
          content: [{ type: 'text', text: 'looks fine' }],
          stopReason: 'end',
          usage: { inputTokens: 1200, outputTokens: 300, cacheReadTokens: 0, cacheWriteTokens: 0 },
        }));
        ctx.emit([{ type: 'review.ready' }, { type: 'review.posted' }]);
        done++;
      }),
      route('notify', 'review.ready', () => void done++),
      route('audit', 'review.posted', () => {
        done++;
        throw new NonRetryableError('audit log is read-only');
      }),
    ],
  });
  await worker.start();
  await bus.publish([
    toEvent({ type: 'pr.opened', id: 'pr-42' }, { source: 'test', trust: 'operator' }),
  ]);
  await eventually(() => done === 3);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await worker.stop();
  await bus.close();
});

describe('agentd trace', () => {
  it('prints the tree of runs, steps and emitted events with status and tokens', async () => {
    const result = await runCli(['trace', 'pr-42', '--data-dir', dir], { cwd: dir });
    expectSuccess(result);
    const out = result.stdout;
    expect(out).toMatch(/^event pr\.opened pr-42/);
    expect(out).toMatch(/run \d+ review {2}completed, attempt 1, \d+ ms, 1500 tokens in 1 turn/);
    expect(out).toMatch(/step fetch-diff/);
    expect(out).toMatch(/step turn-1 .*1500 tokens/);
    expect(out).toMatch(/emitted event review\.ready/);
    expect(out).toMatch(/run \d+ notify {2}completed/);
    expect(out).toMatch(/run \d+ audit {2}dead/);
    expect(out).toMatch(/error: NonRetryableError: audit log is read-only/);
  });

  it('prints the same tree as JSON', async () => {
    const result = await runCli(['trace', 'pr-42', '--data-dir', dir, '--json'], { cwd: dir });
    const tree = parseJson<{
      events: number;
      root: { runs: { route: string; tokens: { total: number }; emitted: { type: string }[] }[] };
    }>(result);
    expect(tree.events).toBe(3);
    expect(tree.root.runs[0]?.tokens.total).toBe(1500);
    expect(tree.root.runs[0]?.emitted.map((e) => e.type).sort()).toEqual([
      'review.posted',
      'review.ready',
    ]);
  });

  it('says so when no event has the id', async () => {
    const result = await runCli(['trace', 'nope', '--data-dir', dir], { cwd: dir });
    expectUsageError(result, /no event with id nope/);
  });
});
