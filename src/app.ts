// The composition root: the only place that picks implementations (SqliteBus today) and wires the
// store, worker and HTTP server into a running daemon.
import { serve, type ServerType } from '@hono/node-server';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SqliteBus } from './bus/sqlite/sqlite-bus.js';
import type { ResolvedConfig } from './core/config.js';
import { toEvent } from './core/envelope.js';
import type { Logger } from './observe/log.js';
import { claimDataDir, releaseDataDir, writeDaemon } from './runtime/daemon-file.js';
import { createWorker, type Worker } from './runtime/worker.js';
import { createHttpApp } from './server/http-app.js';

export interface DaemonOptions {
  config: ResolvedConfig;
  dataDir: string;
  log: Logger;
  /** Overrides config.server.port (0 picks a free port). */
  port?: number;
}

export interface Daemon {
  readonly url: string;
  readonly bus: SqliteBus;
  readonly worker: Worker;
  stop(): Promise<void>;
}

export const DEFAULT_PORT = 7700;
const DAY_MS = 24 * 60 * 60 * 1000;

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, dataDir, log } = options;
  const node = config.node ?? hostname();
  const source = `agentd://${node}`;
  mkdirSync(dataDir, { recursive: true });
  claimDataDir(dataDir, { url: '', startedAt: new Date().toISOString(), node });

  let bus: SqliteBus | undefined;
  let server: ServerType | undefined;
  let worker: Worker | undefined;
  try {
    bus = new SqliteBus({
      path: join(dataDir, 'agentd.db'),
      ...(config.durability === undefined ? {} : { durability: config.durability }),
      source,
      retentionMs: (config.retention?.days ?? 7) * DAY_MS,
    });
    const openBus = bus;
    worker = createWorker({
      bus: openBus,
      routes: config.routes,
      log,
      source,
      ...(config.worker?.concurrency === undefined
        ? {}
        : { concurrency: config.worker.concurrency }),
      ...(config.worker?.shutdownGraceMs === undefined
        ? {}
        : { shutdownGraceMs: config.worker.shutdownGraceMs }),
      ...(config.worker?.maxDepth === undefined ? {} : { maxDepth: config.worker.maxDepth }),
    });
    await worker.start();
    // We hold the data directory, so leases still marked taken belong to a process that died.
    const recovered = await openBus.recoverLeases();
    if (recovered > 0)
      log.warn(
        { recovered },
        'recovered deliveries left leased by a previous run that stopped without settling them',
      );

    const startedWorker = worker;

    const app = createHttpApp({
      publish: (events) => openBus.publish(events),
      isReady: () => startedWorker.started && !openBus.isClosed,
      log,
      node,
      ...(config.server?.bodyLimitBytes === undefined
        ? {}
        : { bodyLimitBytes: config.server.bodyLimitBytes }),
      ...(config.server?.token === undefined ? {} : { token: config.server.token }),
    });
    const host = config.server?.host ?? '127.0.0.1';
    const port = options.port ?? config.server?.port ?? DEFAULT_PORT;
    const listening = await listen(app.fetch, host, port);
    server = listening.server;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${listening.port}`;
    writeDaemon(dataDir, { pid: process.pid, url, startedAt: new Date().toISOString(), node });

    await openBus.publish([
      toEvent(
        {
          type: 'agentd.daemon.started',
          data: { node, pid: process.pid, url, routes: config.routes.map((r) => r.name) },
        },
        { source, trust: 'internal', origin: node },
      ),
    ]);
    log.info({ url, dataDir, routes: config.routes.map((r) => r.name) }, `agentd ready on ${url}`);

    const runningServer = server;
    let stopping: Promise<void> | undefined;
    return {
      url,
      bus: openBus,
      worker: startedWorker,
      stop() {
        stopping ??= (async () => {
          await new Promise<void>((resolve) => runningServer.close(() => resolve()));
          await startedWorker.stop();
          await openBus.close();
          releaseDataDir(dataDir);
        })();
        return stopping;
      },
    };
  } catch (error) {
    server?.close();
    await worker?.stop();
    await bus?.close();
    releaseDataDir(dataDir);
    throw error;
  }
}

function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  hostname: string,
  port: number,
): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, (info) => resolve({ server, port: info.port }));
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
