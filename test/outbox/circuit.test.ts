// A sink's circuit breaker on the real dispatcher, SQLite outbox and fake Slack: repeated 5xx open
// it, the sink's actions then stay pending with no attempt spent, agentd.circuit.opened is
// published; after the cool-down (a manual clock) one trial goes, its success closes the circuit
// and every action goes out exactly once. Answers about the action itself (a 4xx) never open it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { validateConfig, type AgentdConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import {
  startProviderGovernance,
  type ProviderGovernance,
} from '../../src/governor/provider-limiter-setup.js';
import type { Dispatcher } from '../../src/outbox/dispatcher.js';
import { dispatcherFor, prepareOutbox } from '../../src/outbox/outbox-setup.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import { SLACK_TOKEN, startFakeSlack, type FakeSlack } from '../fixtures/fake-slack-server.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { log, sleep, SOURCE, until } from './harness.js';

let slack: FakeSlack;
let running:
  | {
      worker: Worker;
      dispatcher: Dispatcher;
      governance: ProviderGovernance;
      bus: SqliteBus;
      dir: string;
    }
  | undefined;

beforeEach(async () => {
  slack = await startFakeSlack({ channels: ['C1'] });
});
afterEach(async () => {
  if (running !== undefined) {
    await running.worker.stop();
    await running.dispatcher.stop();
    await running.governance.stop();
    await running.bus.close();
    rmSync(running.dir, { recursive: true, force: true });
    running = undefined;
  }
  await slack.close();
});

/** Posts `item N` to the channel in `data.channel` (default C1) for every `work.item`. */
const notify = on<{ n: number; channel?: string }>('work.item', {
  name: 'notify',
  handler: (event, ctx) => {
    const n = event.data?.n ?? 0;
    ctx.outbox.slack.postMessage({ channel: event.data?.channel ?? 'C1', text: `item ${n}` });
  },
});

/** The daemon's wiring (prepareOutbox, startProviderGovernance, dispatcherFor) on a manual clock. */
async function start(clock: ManualClock) {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-circuit-'));
  const config: AgentdConfig = {
    outbox: {
      // One send at a time, so failures in a row are in a known order.
      slack: {
        token: SLACK_TOKEN,
        apiUrl: slack.apiUrl,
        rateLimit: { perSecond: 1_000 },
        concurrency: 1,
      },
      backoff: { initialMs: 10, maxMs: 20 },
      maxAttempts: 20,
    },
    governor: { circuit: { failures: 3, coolDownMs: 60_000 } },
    routes: [notify],
  };
  const resolved = validateConfig(config, 'test');
  const setup = prepareOutbox(resolved.outbox, process.env);
  const bus = new SqliteBus({ path: join(dir, 'agentd.db'), source: SOURCE, sweepIntervalMs: 50 });
  const worker = createWorker({
    bus,
    routes: resolved.routes,
    log,
    source: SOURCE,
    outbox: setup.policy,
  });
  await worker.start();
  const governance = startProviderGovernance(resolved.governor, {
    publish: (events) => bus.publish(events),
    source: SOURCE,
    log,
    clock,
  });
  const dispatcher = dispatcherFor(setup, bus.outbox, bus, {
    log,
    source: SOURCE,
    circuits: governance.circuits,
  });
  await dispatcher.start();
  running = { worker, dispatcher, governance, bus, dir };
  const publish = (data: Record<string, unknown>) =>
    bus.publish([toEvent({ type: 'work.item', data }, { source: 'test', trust: 'operator' })]);
  const circuitEvents = (): AgentdEvent[] =>
    new SqliteInspector(bus.db)
      .events({ limit: 1_000 })
      .map((row) => row.event)
      .filter((event) => event.type.startsWith('agentd.circuit.'))
      .sort((a, b) => a.time.localeCompare(b.time));
  return { bus, dispatcher, governance, publish, circuitEvents };
}

const posts = () => slack.calls('chat.postMessage');

describe('a sink’s circuit breaker', () => {
  it('holds the sink’s actions while open, then sends each exactly once after one good trial', async () => {
    const clock = new ManualClock(Date.now());
    const agentd = await start(clock);
    slack.fail({ method: 'POST', path: /chat\.postMessage/, status: 500, times: 3 });
    for (let n = 1; n <= 5; n++) await agentd.publish({ n });

    await until(() => agentd.circuitEvents().length === 1, 'agentd.circuit.opened');
    expect(agentd.circuitEvents()[0]).toMatchObject({
      type: 'agentd.circuit.opened',
      trust: 'internal',
      data: { kind: 'sink', name: 'slack', failures: 3, coolDownMs: 60_000 },
    });
    expect(posts()).toHaveLength(3);
    // Retries fall due after 10-20 ms and the dispatcher polls: still nothing goes to Slack.
    await until(
      async () => (await agentd.bus.outbox.list({ limit: 100 })).length === 5,
      'all 5 actions recorded',
    );
    await sleep(300);
    agentd.dispatcher.wake();
    await sleep(100);
    expect(posts()).toHaveLength(3);
    const held = await agentd.bus.outbox.list({ limit: 100 });
    expect(held.map((a) => a.state)).toEqual(Array(5).fill('pending'));
    // Only the three sends that failed spent an attempt; the others were never tried.
    expect(held.reduce((sum, a) => sum + a.attempt, 0)).toBe(3);
    expect(agentd.governance.circuits.states()).toEqual([
      expect.objectContaining({ kind: 'sink', name: 'slack', state: 'open', failures: 3 }),
    ]);

    await clock.advanceBy(60_000);
    agentd.dispatcher.wake();
    await until(() => slack.messages.length === 5, 'all five messages');
    const texts = slack.messages.map((m) => m.text).sort();
    expect(texts).toEqual(['item 1', 'item 2', 'item 3', 'item 4', 'item 5']);
    await until(() => agentd.circuitEvents().length === 2, 'agentd.circuit.closed');
    expect(agentd.circuitEvents()[1]).toMatchObject({
      type: 'agentd.circuit.closed',
      data: { kind: 'sink', name: 'slack' },
    });
    await until(
      async () => (await agentd.bus.outbox.list({ limit: 100 })).every((a) => a.state === 'done'),
      'every action done',
    );
    // 3 failed posts, then one per message: nothing was sent twice.
    expect(posts()).toHaveLength(8);
  });

  it('keeps it open while the trial fails, and sends nothing but the trial', async () => {
    const clock = new ManualClock(Date.now());
    const agentd = await start(clock);
    slack.fail({ method: 'POST', path: /chat\.postMessage/, status: 503, times: 4 });
    for (let n = 1; n <= 3; n++) await agentd.publish({ n });
    await until(() => agentd.circuitEvents().length === 1, 'the circuit opening');
    expect(posts()).toHaveLength(3);
    await clock.advanceBy(60_000);
    agentd.dispatcher.wake();
    await until(() => agentd.circuitEvents().length === 2, 'the circuit opening again');
    expect(agentd.circuitEvents().map((e) => e.type)).toEqual([
      'agentd.circuit.opened',
      'agentd.circuit.opened',
    ]);
    await sleep(200);
    expect(posts()).toHaveLength(4);
    expect(slack.messages).toHaveLength(0);
    await clock.advanceBy(60_000);
    agentd.dispatcher.wake();
    await until(() => slack.messages.length === 3, 'the three messages');
  });

  it('is not opened by answers about the action itself (a channel that does not exist)', async () => {
    const clock = new ManualClock(Date.now());
    const agentd = await start(clock);
    for (let n = 1; n <= 4; n++) await agentd.publish({ n, channel: 'C-missing' });
    await until(
      async () =>
        (await agentd.bus.outbox.list({ limit: 100 })).filter((a) => a.state === 'dead').length ===
        4,
      'four dead actions',
    );
    expect(agentd.governance.circuits.states()).toEqual([
      { kind: 'sink', name: 'slack', state: 'closed', failures: 0 },
    ]);
    await agentd.publish({ n: 5 });
    await until(() => slack.messages.length === 1, 'the good message');
    expect(agentd.circuitEvents()).toEqual([]);
  });
});
