// The composition root: wires the bus (app-stores.ts picks SqliteBus or NatsBus from the config's
// `bus`), the governor, worker, outbox dispatcher, sources and HTTP server into a running daemon.
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Bus } from './bus/bus.js';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { NatsBus } from './bus/nats/nats-bus.js';
import { agentStartupWarnings, unusedProviderLimits } from './agents/startup-check.js';
import { SqliteBus } from './bus/sqlite/sqlite-bus.js';
import type { ResolvedConfig } from './core/config.js';
import { toEvent } from './core/envelope.js';
import { sourceStateOf } from './core/source-state.js';
import { backlogGateFor } from './governor/backpressure.js';
import { governorSettings } from './governor/governor-settings.js';
import {
  startProviderGovernance,
  type ProviderGovernance,
} from './governor/provider-limiter-setup.js';
import { openNatsHistory, runHistoryPublisher, type NatsHistory } from './history/nats-history.js';
import type { Logger } from './observe/log.js';
import { RejectCounter, type RejectCounts } from './observe/reject-counter.js';
import { ensureAdminToken } from './runtime/admin-token.js';
import { claimDataDir, releaseDataDir, writeDaemon } from './runtime/daemon-file.js';
import { createWorker, type Worker } from './runtime/worker.js';
import { workerOptions } from './app-worker.js';
import { openBus, openGovernorStore, openSourceState, type AppBus } from './app-stores.js';
import type { Dispatcher } from './outbox/dispatcher.js';
import { dispatcherFor, prepareOutbox } from './outbox/outbox-setup.js';
import { createOutboxApi } from './server/outbox-api.js';
import { AdminSurface } from './server/admin-surface.js';
import { createHttpApp } from './server/http-app.js';
import { createSources } from './sources/create-sources.js';
import { SourcePublisher } from './sources/source-publisher.js';
import type { Source } from './sources/source.js';

export interface DaemonOptions {
  config: ResolvedConfig;
  dataDir: string;
  log: Logger;
  /** Overrides config.server.port (0 picks a free port). */
  port?: number;
  /** False: serve HTTP and sources only; worker processes of their own run the routes (NATS). */
  runWorker?: boolean;
  /** The config file's directory: relative paths in sources are read from it. Default cwd. */
  baseDir?: string;
  /** Spans go here (tests, embedders), with or without observe.otlp in the config. */
  traceExporter?: SpanExporter;
}

export interface Daemon {
  readonly url: string;
  readonly bus: AppBus;
  readonly worker: Worker;
  /** Refused webhook requests per source and reason (for /metrics). */
  readonly rejects: RejectCounts;
  stop(): Promise<void>;
}

export const DEFAULT_PORT = 7700;

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, dataDir, log } = options;
  const node = config.node ?? hostname();
  const source = `agentd://${node}`;
  // Routes whose agents widen what external events may use, or lack an API key, say so up front.
  for (const warning of agentStartupWarnings(config.routes))
    log.warn({ route: warning.route }, warning.message);
  for (const message of unusedProviderLimits(
    config.routes,
    Object.keys(config.governor?.providers ?? {}),
  ))
    log.warn(message);
  mkdirSync(dataDir, { recursive: true });
  claimDataDir(dataDir, { url: '', startedAt: new Date().toISOString(), node });

  let bus: AppBus | undefined;
  let server: ServerType | undefined;
  let worker: Worker | undefined;
  let dispatcher: Dispatcher | undefined;
  let governance: ProviderGovernance | undefined;
  let history: NatsHistory | undefined;
  const stopSources = new AbortController();
  const startedSources: Source[] = [];
  try {
    // First, so a secret missing from the environment fails the start before anything opens.
    const sources = createSources(config.sources, {
      env: process.env,
      log,
      node,
      baseDir: options.baseDir,
      dataDir,
    });
    const outbox = prepareOutbox(config.outbox, process.env);
    const token = adminToken(config, dataDir, log);
    bus = await openBus(config, dataDir, { source, log });
    const openedBus = bus;
    // Opened even when worker processes run the routes (status and the admin API read it).
    const governorStore = await openGovernorStore(openedBus, config);
    // Provider limits and circuit breakers: agent handlers find them by provider name.
    governance = startProviderGovernance(config.governor, {
      publish: (events) => openedBus.publish(events),
      source,
      origin: node,
      log,
      rateLimits: governorStore.rateLimits,
    });
    const startedGovernance = governance;
    // Metrics, traces, the live feed and the admin API; read lazily, so built before the worker.
    const surface = new AdminSurface({
      config,
      node,
      log,
      db: openedBus instanceof SqliteBus ? openedBus.db : undefined,
      routeCounters: () => worker?.stats() ?? {},
      rejects: () => rejects.snapshot(),
      governor: () => worker?.governorStatus?.(),
      ...(options.traceExporter === undefined ? {} : { traceExporter: options.traceExporter }),
      ...(openedBus instanceof NatsBus ? { runHistory: runHistoryPublisher(openedBus, log) } : {}),
    });
    // On NATS the admin API's history is a file of this daemon's, fed from the streams.
    history =
      openedBus instanceof NatsBus
        ? await openNatsHistory(openedBus, { config, dataDir, live: surface.live, log })
        : undefined;
    const startedHistory = history;
    worker =
      options.runWorker === false
        ? idleWorker()
        : createWorker({
            ...workerOptions(config, openedBus, log, source),
            governor: governorSettings(config, governorStore, () =>
              startedGovernance.circuits.states(),
            ),
            observer: surface.observer,
          });
    await worker.start();
    // We hold the data directory, so leases still marked taken belong to a process that died.
    // (On NATS, leases are JetStream's ack timers: a dead worker's deliveries come back by themselves.)
    const recovered = openedBus instanceof SqliteBus ? await openedBus.recoverLeases() : 0;
    if (recovered > 0)
      log.warn(
        { recovered },
        'recovered deliveries left leased by a previous run that stopped without settling them',
      );
    // Outbox actions are sent where runs are settled: beside this daemon's worker. On NATS the
    // store is shared, so every daemon dispatches, also when worker processes run the routes.
    const busOutbox = (openedBus as Bus).outbox;
    const outboxStore =
      options.runWorker === false && !(openedBus instanceof NatsBus) ? undefined : busOutbox;
    if (outboxStore !== undefined) {
      dispatcher = dispatcherFor(outbox, outboxStore, openedBus, {
        log,
        source,
        circuits: startedGovernance.circuits,
        observer: surface.outboxObserver,
      });
      await dispatcher.start();
    }
    const startedDispatcher = dispatcher;

    const startedWorker = worker;

    // The ingress (HTTP and sources) stores nothing for a route whose backlog is full.
    const backlogGate = backlogGateFor(config, openedBus, log);
    const ingressPublish = backlogGate.guard((events) => openedBus.publish(events));
    const sourcePublisher = new SourcePublisher(ingressPublish);
    const sourceState = await openSourceState(openedBus, config);
    for (const each of sources) {
      startedSources.push(each);
      await each.start(
        sourcePublisher.publish,
        stopSources.signal,
        sourceStateOf(sourceState, each.name),
      );
    }
    const rejects = new RejectCounter();
    const readOnlyToken = config.server?.readOnlyToken;

    const app = createHttpApp({
      publish: ingressPublish,
      isReady: () => startedWorker.started && !openedBus.isClosed,
      log,
      node,
      ...(config.server?.bodyLimitBytes === undefined
        ? {}
        : { bodyLimitBytes: config.server.bodyLimitBytes }),
      ...(token === undefined ? {} : { token }),
      sources,
      rejects,
      ...(readOnlyToken === undefined ? {} : { readOnlyToken }),
      metrics: surface.metrics,
      ...(surface.tracing === undefined ? {} : { tracing: surface.tracing }),
      admin: withOutboxApi(
        surface.api({
          tokens: {
            ...(token === undefined ? {} : { admin: token }),
            ...(readOnlyToken === undefined ? {} : { read: readOnlyToken }),
          },
          dlq: openedBus.dlq,
          inFlight: () => inFlightOf(startedWorker),
          governor: () => startedWorker.governorStatus?.(),
          ...(startedHistory === undefined ? {} : { history: startedHistory.readSide }),
        }),
        busOutbox === undefined
          ? undefined
          : createOutboxApi({
              tokens: {
                ...(token === undefined ? {} : { admin: token }),
                ...(readOnlyToken === undefined ? {} : { read: readOnlyToken }),
              },
              store: busOutbox,
              source,
              wake: () => startedDispatcher?.wake(),
            }),
      ),
      dashboard: true,
    });
    const host = config.server?.host ?? '127.0.0.1';
    const port = options.port ?? config.server?.port ?? DEFAULT_PORT;
    const listening = await listen(app.fetch, host, port, config.server?.maxConnections ?? 1_024);
    server = listening.server;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${listening.port}`;
    writeDaemon(dataDir, { pid: process.pid, url, startedAt: new Date().toISOString(), node });

    await openedBus.publish([
      toEvent(
        {
          type: 'agentd.daemon.started',
          data: {
            node,
            pid: process.pid,
            url,
            routes: config.routes.map((r) => r.name),
            sources: sources.map((s) => s.name),
          },
        },
        { source, trust: 'internal', origin: node },
      ),
    ]);
    log.info(
      {
        url,
        dashboard: `${url}/ui/`,
        dataDir,
        routes: config.routes.map((r) => r.name),
        sources: sources.map((s) => s.name),
      },
      `agentd ready on ${url}`,
    );

    const runningServer = server;
    let stopping: Promise<void> | undefined;
    return {
      url,
      bus: openedBus,
      worker: startedWorker,
      rejects,
      stop() {
        stopping ??= (async () => {
          surface.closeStreams();
          await new Promise<void>((resolve) => runningServer.close(() => resolve()));
          stopSources.abort();
          // Sources wind down first (children exit, pending changes flush) and may still publish.
          await stopStartedSources(startedSources, log);
          await sourcePublisher.drain();
          await startedWorker.stop();
          await startedDispatcher?.stop();
          await startedGovernance.stop();
          await startedHistory?.close();
          await openedBus.close();
          await surface.stop();
          releaseDataDir(dataDir);
        })();
        return stopping;
      },
    };
  } catch (error) {
    stopSources.abort();
    await stopStartedSources(startedSources, log);
    server?.close();
    await worker?.stop();
    await dispatcher?.stop();
    await governance?.stop();
    await history?.close();
    await bus?.close();
    releaseDataDir(dataDir);
    throw error;
  }
}

/** Mounts /api/outbox inside the admin API, behind its tokens. */
function withOutboxApi(admin: Hono, outbox: Hono | undefined): Hono {
  if (outbox !== undefined) admin.route('/outbox', outbox);
  return admin;
}

/** Waits for aborted sources to wind down; one that fails to stop cleanly is logged, not fatal. */
async function stopStartedSources(sources: readonly Source[], log: Logger): Promise<void> {
  const outcomes = await Promise.allSettled(
    sources.map((each) => each.stopped?.() ?? Promise.resolve()),
  );
  outcomes.forEach((outcome, index) => {
    if (outcome.status === 'rejected')
      log.error(
        { source: sources[index]?.name, err: outcome.reason },
        'source did not stop cleanly',
      );
  });
}

function inFlightOf(worker: Worker): Record<string, number> {
  return Object.fromEntries(
    Object.entries(worker.stats()).map(([route, stats]) => [route, stats.inFlight]),
  );
}

/** The daemon's stand-in worker when worker processes of their own run the routes. */
function idleWorker(): Worker {
  return { started: true, start: async () => {}, stop: async () => {}, stats: () => ({}) };
}

/** What POST /events needs: server.token, else <dataDir>/admin-token; nothing with auth: false. */
function adminToken(config: ResolvedConfig, dataDir: string, log: Logger): string | undefined {
  if (config.server?.auth === false) {
    // The config schema allows this on loopback hosts only.
    log.warn('server.auth is false: POST /events accepts operator events without a token');
    return undefined;
  }
  return config.server?.token ?? ensureAdminToken(dataDir);
}

function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  hostname: string,
  port: number,
  maxConnections: number,
): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, (info) => resolve({ server, port: info.port }));
    server.maxConnections = maxConnections;
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `port ${port} on ${hostname} is already in use: set server.port in the config or pass --port`,
            )
          : error,
      );
    });
  });
}
