// `npm run bench:validation`: what checking events against their contracts costs, in the same run.
// 1. The gate alone, per event: a type without a contract, a small internal event, a real GitHub
//    pull_request.opened payload (GitHub's own example, ~25 KB of JSON).
// 2. SqliteBus.publish end to end (group commit, fan-out to one route), validation off vs on,
//    runs interleaved so both see the same machine; the best of --runs each.
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { createRequire } from 'node:module';
import Table from 'cli-table3';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_SUBSCRIPTION } from '../src/bus/bus.js';
import { SqliteBus } from '../src/bus/sqlite/sqlite-bus.js';
import { ContractGate } from '../src/contracts/contract-gate.js';
import { registryFor } from '../src/contracts/config-contracts.js';
import { toEvent, type AgentdEvent } from '../src/core/envelope.js';
import type { IngestGate } from '../src/core/ingest-gate.js';
import { githubEvent } from '../src/sources/webhook/github/github-event.js';

// GitHub's example payloads, as the package ships them (a JSON main).
const webhooks = createRequire(import.meta.url)(
  '@octokit/webhooks-examples',
) as WebhookDefinition[];

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: process.env.BENCH_EVENTS ?? '50000' },
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' },
    batch: { type: 'string', default: '100' },
  },
});
const EVENTS = Number(args.events);
const RUNS = Number(args.runs);
const BATCH = Number(args.batch);

const gate = new ContractGate(registryFor({}));

const prExample = webhooks
  .find((w) => w.name === 'pull_request')!
  .examples.find((e) => (e as { action?: string }).action === 'opened')!;

let seq = 0;
const kinds = {
  'no contract (passes unchecked)': () =>
    toEvent(
      { type: 'order.placed', data: { id: seq++, amount: 12.5 } },
      { source: 'bench', trust: 'operator' },
    ),
  'agentd.run.completed (small)': () =>
    toEvent(
      {
        type: 'agentd.run.completed',
        dataschema: 'agentd:agentd.run.completed/v1',
        data: {
          route: 'r',
          runId: String(seq++),
          attempt: 1,
          eventId: 'e',
          eventSource: 's',
          eventType: 't',
          durationMs: 3,
        },
      },
      { source: 'bench', trust: 'internal' },
    ),
  'github.pull_request.opened (~25 KB)': () =>
    githubEvent({
      sourceName: 'gh',
      event: 'pull_request',
      deliveryId: `d-${seq++}`,
      payload: prExample as unknown as Record<string, unknown>,
    }),
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * ns per gate.admit, on pre-built events so only the check is timed: a pool of 1,000 checked over
 * and over, as a publish checks events it has just built (a pool of millions would time cache misses).
 */
function gateCost(make: () => AgentdEvent, n: number): number {
  const pool = Array.from({ length: 1_000 }, make);
  for (const event of pool) gate.admit(event); // warm up zod's compiled checks
  const rounds = Math.max(1, Math.round(n / pool.length));
  const start = process.hrtime.bigint();
  for (let round = 0; round < rounds; round++) for (const event of pool) gate.admit(event);
  return Number(process.hrtime.bigint() - start) / (rounds * pool.length);
}

/** Events per second through SqliteBus.publish in batches, with or without the gate. */
async function publishRate(make: () => AgentdEvent, n: number, withGate: IngestGate | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-validation-'));
  const bus = new SqliteBus({
    path: join(dir, 'agentd.db'),
    ...(withGate ? { gate: withGate } : {}),
  });
  try {
    await bus.subscribe('route', { ...DEFAULT_SUBSCRIPTION, types: ['**'] });
    const events = Array.from({ length: n }, make);
    const start = performance.now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < n; i += BATCH) pending.push(bus.publish(events.slice(i, i + BATCH)));
    await Promise.all(pending);
    return n / ((performance.now() - start) / 1_000);
  } finally {
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const gateTable = new Table({
  head: ['event', 'gate.admit per event'],
  style: { head: [], border: [] },
});
for (const [name, make] of Object.entries(kinds)) {
  const runs = Array.from({ length: RUNS }, () => gateCost(make, Math.min(EVENTS, 20_000)));
  gateTable.push([name, `${(median(runs) / 1_000).toFixed(2)} µs`]);
}

const busTable = new Table({
  head: ['event', 'publish off (ev/s)', 'publish on (ev/s)', 'cost per event', 'change'],
  style: { head: [], border: [] },
});
for (const [name, make] of Object.entries(kinds)) {
  const n = name.startsWith('github') ? Math.min(EVENTS, 10_000) : EVENTS;
  const off: number[] = [];
  const on: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    // Alternating which goes first, so neither always runs on a warmer (or busier) machine.
    if (run % 2 === 0) off.push(await publishRate(make, n, undefined));
    on.push(await publishRate(make, n, gate));
    if (run % 2 === 1) off.push(await publishRate(make, n, undefined));
  }
  // The best run of each: on a shared machine, other load only ever slows a run down.
  const [a, b] = [Math.max(...off), Math.max(...on)];
  busTable.push([
    name,
    fmt(a),
    fmt(b),
    `${((1 / b - 1 / a) * 1e6).toFixed(2)} µs`,
    `${(((b - a) / a) * 100).toFixed(1)} %`,
  ]);
}

process.stdout.write(
  `validation cost: ${EVENTS} events per run (GitHub payloads: ${Math.min(EVENTS, 10_000)}), batches of ${BATCH}; gate: median of ${RUNS}, publish: best of ${RUNS}; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(
      ' ',
    )}\n\nthe gate alone\n${gateTable.toString()}\n\nSqliteBus.publish, one route\n${busTable.toString()}\n`,
);
