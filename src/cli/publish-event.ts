// How the CLI publishes an event (agentd emit, agentd exec): to the running daemon's HTTP API, so
// its routes see it at once, or, with no daemon, straight into the store, where it waits for one.
import type { AgentdEvent } from '../core/envelope.js';
import { clientToken } from '../runtime/admin-token.js';
import { readDaemon } from '../runtime/daemon-file.js';
import { onNats, openConfiguredBus, withStore, type CliStore } from './cli-support.js';

export interface CliPublishResult {
  id: string;
  source: string;
  duplicate: boolean;
  /** Its data broke its type's contract: it waits in the quarantine instead of being delivered. */
  quarantined?: true;
  /** The daemon's URL, the store file, or 'NATS'. */
  via: string;
}

export interface CliPublished {
  result: CliPublishResult;
  /** Whether a daemon was running: without one the event waits in the store. */
  daemonRunning: boolean;
}

/**
 * Publishes `event` with the admin token. A delayed event always goes into the store, since the
 * HTTP API has no delay.
 */
export async function publishFromCli(
  store: CliStore,
  event: AgentdEvent,
  options: { delayMs?: number } = {},
): Promise<CliPublished> {
  const { delayMs } = options;
  const daemon = delayMs === undefined ? readDaemon(store.dataDir) : undefined;
  if (daemon !== undefined && daemon.url !== '') {
    const token = clientToken(store.loaded.config.server?.token, store.dataDir);
    const response = await fetch(`${daemon.url}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents+json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(event),
    });
    const body = (await response.json().catch(() => ({}))) as {
      accepted?: { id: string; source: string; duplicate: boolean; quarantined?: true }[];
      error?: string;
    };
    if (response.status !== 202 || body.accepted?.[0] === undefined) {
      throw new Error(
        `the daemon at ${daemon.url} refused the event (${response.status}): ${body.error ?? 'no reason given'}`,
      );
    }
    return { result: { ...body.accepted[0], via: daemon.url }, daemonRunning: true };
  }
  const published = await withStore(await openConfiguredBus(store), (bus) =>
    bus.publish([event], delayMs === undefined ? {} : { delayMs }),
  );
  return {
    result: { ...published![0]!, via: onNats(store) ? 'NATS' : store.dbPath },
    daemonRunning: daemon !== undefined,
  };
}
