// The composition root's stores: the only place that picks SqliteBus or NatsBus (from the config's
// `bus`) and the source-state and governor stores that live beside each. The CLI opens them too.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NatsBus } from './bus/nats/nats-bus.js';
import { NatsSourceState } from './bus/nats/nats-source-state.js';
import { SqliteBus } from './bus/sqlite/sqlite-bus.js';
import { SqliteSourceState } from './bus/sqlite/source-state-sql.js';
import { ingestGateFor } from './contracts/config-contracts.js';
import type { ResolvedConfig } from './core/config.js';
import type { SourceStateStore } from './core/source-state.js';
import type { GovernorStore } from './governor/governor-store.js';
import { NatsGovernorStore } from './governor/nats-governor-store.js';
import { SqliteGovernorStore } from './governor/sqlite-governor-store.js';
import type { Logger } from './observe/log.js';

/** The bus the config picks: the embedded SQLite store, or NATS JetStream. */
export type AppBus = SqliteBus | NatsBus;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Opens the bus the config names. The CLI uses this too, so only this file picks an implementation. */
export async function openBus(
  config: ResolvedConfig,
  dataDir: string,
  options: { source?: string; log?: Logger; retention?: boolean } = {},
): Promise<AppBus> {
  const retentionMs = options.retention === false ? 0 : (config.retention?.days ?? 7) * DAY_MS;
  const busConfig = config.bus ?? { kind: 'sqlite' };
  switch (busConfig.kind) {
    case 'sqlite': {
      // Every publish (HTTP, sources, ctx.emit, the CLI) goes through this bus: it checks contracts.
      const gate = ingestGateFor(config, options.log);
      return new SqliteBus({
        path: join(dataDir, 'agentd.db'),
        ...(gate === undefined ? {} : { gate }),
        ...(config.durability === undefined ? {} : { durability: config.durability }),
        ...(options.source === undefined ? {} : { source: options.source }),
        retentionMs,
      });
    }
    case 'nats': {
      const log = options.log;
      const gate = ingestGateFor(config, log);
      return NatsBus.connect({
        servers: busConfig.servers,
        ...(gate === undefined ? {} : { gate }),
        ...(busConfig.stream === undefined ? {} : { stream: busConfig.stream }),
        ...(busConfig.replicas === undefined ? {} : { replicas: busConfig.replicas }),
        ...(busConfig.dedupWindowMs === undefined
          ? {}
          : { dedupWindowMs: busConfig.dedupWindowMs }),
        ...(busConfig.maxAckPending === undefined
          ? {}
          : { maxAckPending: busConfig.maxAckPending }),
        ...(busConfig.user === undefined ? {} : { user: busConfig.user }),
        ...(busConfig.pass === undefined ? {} : { pass: busConfig.pass }),
        ...(busConfig.token === undefined ? {} : { token: busConfig.token }),
        // The NATS stream keeps events for retention.days (0: forever), CLI or daemon alike.
        retentionMs: (config.retention?.days ?? 7) * DAY_MS,
        connectionName: `agentd ${config.node ?? hostname()} pid ${process.pid}`,
        ...(options.source === undefined ? {} : { source: options.source }),
        ...(log === undefined
          ? {}
          : {
              onError: (err: unknown, context: object) =>
                log.error({ ...context, err }, 'NATS bus'),
            }),
      });
    }
  }
}

/**
 * Where the governor keeps budgets, pauses and chain counts: beside the events, shared by every
 * worker (tables in the SQLite store, or a JetStream KV bucket every NATS worker uses). On NATS the
 * store also holds the rate-limit buckets (its `rateLimits`), since worker processes share them;
 * the SQLite bus has one daemon, which keeps them in memory.
 */
export async function openGovernorStore(
  bus: AppBus,
  config: ResolvedConfig,
): Promise<GovernorStore> {
  if (bus instanceof SqliteBus) return SqliteGovernorStore.open(bus);
  const replicas = config.bus?.kind === 'nats' ? config.bus.replicas : undefined;
  return NatsGovernorStore.open(bus.store, { replicas });
}

/** Where sources keep durable state: beside the events, in whichever store the bus uses. */
export async function openSourceState(
  bus: AppBus,
  config: ResolvedConfig,
): Promise<SourceStateStore> {
  if (bus instanceof SqliteBus) return new SqliteSourceState(bus);
  const replicas = config.bus?.kind === 'nats' ? config.bus.replicas : undefined;
  return NatsSourceState.open(bus.store, replicas === undefined ? {} : { replicas });
}
