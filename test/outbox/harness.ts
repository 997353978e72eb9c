// In-process agentd for outbox tests: a SqliteBus, the worker and the dispatcher wired as the daemon
// wires them (prepareOutbox + dispatcherFor), against fake GitHub and Slack servers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { validateConfig, type AgentdConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/observe/log.js';
import { prepareOutbox } from '../../src/outbox/outbox-setup.js';
import { wireAgentd, type WiredAgentd } from './wired-agentd.js';

export const log = createLogger({ level: (process.env.HARNESS_LOG as 'warn') ?? 'silent' });
export const SOURCE = 'agentd://test';

export interface Harness extends WiredAgentd<SqliteBus> {
  dir: string;
  /** Stops, then starts again on the same store with the same config: a restart. */
  restart(): Promise<Harness>;
}

const opened = new Set<Harness>();
const dirs: string[] = [];

export async function startAgentd(
  config: AgentdConfig,
  options: { dir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Harness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'agentd-outbox-'));
  if (options.dir === undefined) dirs.push(dir);
  const resolved = validateConfig(config, 'test');
  const setup = prepareOutbox(resolved.outbox, options.env ?? process.env);
  const bus = new SqliteBus({ path: join(dir, 'agentd.db'), source: SOURCE, sweepIntervalMs: 50 });
  const wired = await wireAgentd(bus, resolved, setup, {
    log,
    source: SOURCE,
    afterWorkerStart: () => bus.recoverLeases(),
  });
  const harness: Harness = {
    ...wired,
    dir,
    async stop() {
      opened.delete(harness);
      await wired.stop();
    },
    async restart() {
      await harness.stop();
      return startAgentd(config, { ...options, dir });
    },
  };
  opened.add(harness);
  return harness;
}

/** Stops every harness still running and removes their directories (afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...opened].map((h) => h.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Repeats `check` until it holds. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
