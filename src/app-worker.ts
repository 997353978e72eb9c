// A worker process of its own (`agentd start --workers N` on NATS): the routes without HTTP.
import { hostname } from 'node:os';
import { NatsBus } from './bus/nats/nats-bus.js';
import type { ResolvedConfig } from './core/config.js';
import { governorSettings } from './governor/governor-settings.js';
import { startProviderGovernance } from './governor/provider-limiter-setup.js';
import { runHistoryPublisher } from './history/nats-history.js';
import type { Logger } from './observe/log.js';
import { DaemonObserver } from './observe/run-observer.js';
import { createWorker, type Worker } from './runtime/worker.js';
import { registryFor } from './contracts/config-contracts.js';
import { outboxPolicy } from './outbox/outbox-setup.js';
import { openBus, openGovernorStore, type AppBus } from './app-stores.js';

export interface WorkerProcess {
  /** A worker process serves no HTTP. */
  readonly url?: undefined;
  readonly bus: AppBus;
  readonly worker: Worker;
  stop(): Promise<void>;
}

/**
 * A worker without HTTP: one of the processes `agentd start --workers N` runs on a NATS bus. Any
 * number of them, on any number of machines, share the routes' deliveries.
 */
export async function startWorkerProcess(options: {
  config: ResolvedConfig;
  dataDir: string;
  log: Logger;
}): Promise<WorkerProcess> {
  const { config, dataDir, log } = options;
  if (config.bus?.kind !== 'nats')
    throw new Error('worker processes of their own need bus.kind "nats" in the config');
  const node = config.node ?? hostname();
  const source = `agentd://${node}`;
  const bus = await openBus(config, dataDir, { source, log });
  const governorStore = await openGovernorStore(bus, config).catch(async (error: unknown) => {
    await bus.close();
    throw error;
  });
  // Provider limits are shared through the governor store; breakers are this process's own.
  const governance = startProviderGovernance(config.governor, {
    publish: (events) => bus.publish(events),
    source,
    origin: node,
    log,
    rateLimits: governorStore.rateLimits,
  });
  let worker: Worker;
  try {
    worker = createWorker({
      ...workerOptions(config, bus, log, source),
      governor: governorSettings(config, governorStore, () => governance.circuits.states()),
      // Its runs show in the admin API of the daemon that serves HTTP (src/history).
      ...(bus instanceof NatsBus
        ? { observer: new DaemonObserver({ history: runHistoryPublisher(bus, log) }) }
        : {}),
    });
    await worker.start();
  } catch (error) {
    await governance.stop();
    await bus.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    bus,
    worker,
    stop() {
      stopping ??= (async () => {
        await worker.stop();
        await governance.stop();
        await bus.close();
      })();
      return stopping;
    },
  };
}

/** The worker options a config gives, shared by the daemon and worker processes. */
export function workerOptions(config: ResolvedConfig, bus: AppBus, log: Logger, source: string) {
  const w = config.worker ?? {};
  return {
    bus,
    routes: config.routes,
    registry: registryFor(config),
    log,
    source,
    ...(w.concurrency === undefined ? {} : { concurrency: w.concurrency }),
    ...(w.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: w.shutdownGraceMs }),
    ...(w.leaseMs === undefined ? {} : { leaseMs: w.leaseMs }),
    outbox: outboxPolicy(config.outbox),
  };
}
