// In-process agentd daemons on one NATS namespace: a NatsBus each, with the worker and the outbox
// dispatcher wired as the daemon wires them (prepareOutbox + dispatcherFor). Several of them on one
// stream are several machines sharing the work.
import { NatsBus } from '../../../src/bus/nats/nats-bus.js';
import { validateConfig, type AgentdConfig } from '../../../src/core/config.js';
import type { IngestGate } from '../../../src/core/ingest-gate.js';
import { createLogger } from '../../../src/observe/log.js';
import { prepareOutbox } from '../../../src/outbox/outbox-setup.js';
import { wireAgentd, type WiredAgentd } from '../../outbox/wired-agentd.js';
import { dropNamespace, NATS_URL, uniqueStream } from './nats-server.js';

export const log = createLogger({ level: (process.env.HARNESS_LOG as 'warn') ?? 'silent' });
export const SOURCE = 'agentd://nats-test';

export interface NatsAgentd extends WiredAgentd<NatsBus> {
  stream: string;
  /** Stops, then starts again on the same namespace with the same config: a restart. */
  restart(): Promise<NatsAgentd>;
}

const running = new Set<NatsAgentd>();
const streams = new Set<string>();

export interface StartOptions {
  /** Joins this namespace (another daemon's `stream`) instead of a fresh one. */
  stream?: string;
  gate?: IngestGate;
  leaseMs?: number;
}

export async function startNatsAgentd(
  config: AgentdConfig,
  options: StartOptions = {},
): Promise<NatsAgentd> {
  const stream = options.stream ?? uniqueStream('AG');
  streams.add(stream);
  const resolved = validateConfig(config, 'test');
  const setup = prepareOutbox(resolved.outbox, process.env);
  const bus = await NatsBus.connect({
    servers: NATS_URL,
    stream,
    source: SOURCE,
    retentionMs: 60 * 60_000,
    ...(options.gate === undefined ? {} : { gate: options.gate }),
    onError: (error, context) => log.error({ ...context, err: error }, 'NATS bus'),
  });
  const wired = await wireAgentd(bus, resolved, setup, {
    log,
    source: SOURCE,
    leaseMs: options.leaseMs,
  });
  const agentd: NatsAgentd = {
    ...wired,
    stream,
    async stop() {
      running.delete(agentd);
      await wired.stop();
    },
    async restart() {
      await agentd.stop();
      return startNatsAgentd(config, { ...options, stream });
    },
  };
  running.add(agentd);
  return agentd;
}

/** Stops every daemon still running and drops their namespaces (afterEach). */
export async function stopAllNatsAgentd(): Promise<void> {
  await Promise.all([...running].map((agentd) => agentd.stop()));
  for (const stream of [...streams]) {
    streams.delete(stream);
    await dropNamespace(NATS_URL, stream);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Repeats `check` until it holds. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
