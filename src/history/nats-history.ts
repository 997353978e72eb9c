// The NATS bus's history, as the composition root wires it: every worker publishes its run changes,
// and the daemon that serves HTTP keeps `<dataDir>/nats-history.db`, read by the admin API and by
// `agentd events|runs|trace` on the same machine.
import { join } from 'node:path';
import type { NatsBus } from '../bus/nats/nats-bus.js';
import type { ResolvedConfig } from '../core/config.js';
import type { LiveFeed } from '../observe/live-feed.js';
import type { Logger } from '../observe/log.js';
import type { HistoryReadSide } from '../server/admin-surface.js';
import { HistoryProjection } from './history-projection.js';
import { natsAdminView } from './nats-admin-view.js';
import { RunHistoryPublisher } from './run-history-publisher.js';

export const HISTORY_FILE = 'nats-history.db';

const DAY_MS = 24 * 60 * 60 * 1000;

export function historyPath(dataDir: string): string {
  return join(dataDir, HISTORY_FILE);
}

/** Where a worker on this bus reports its run changes. */
export function runHistoryPublisher(bus: NatsBus, log: Logger): RunHistoryPublisher {
  return new RunHistoryPublisher(bus.store.nc, bus.names, log);
}

export interface NatsHistory {
  readSide: HistoryReadSide;
  close(): Promise<void>;
}

/** Opens the daemon's history file and starts feeding it from the streams. */
export async function openNatsHistory(
  bus: NatsBus,
  options: { config: ResolvedConfig; dataDir: string; live: LiveFeed; log: Logger },
): Promise<NatsHistory> {
  const { config } = options;
  const projection = await HistoryProjection.open({
    store: bus.store,
    path: historyPath(options.dataDir),
    // The same age limit as the streams: what they dropped, the file drops too.
    retentionMs: (config.retention?.days ?? 7) * DAY_MS,
    live: options.live,
    log: options.log,
  });
  return {
    readSide: { db: projection.db, view: natsAdminView(bus, projection.db) },
    close: () => projection.close(),
  };
}
