// GET /api/stream: Server-Sent Events of new events (polled from the store, so events published by
// other processes show too) and run status changes (from this process's worker). Each tick sends
// at most a bounded slice, so a busy bus cannot flood a dashboard: it says how many it skipped.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { AdminQueries } from '../bus/sqlite/admin-sql.js';
import type { LiveFeed } from '../observe/live-feed.js';

export interface LiveStreamOptions {
  queries: AdminQueries;
  live: LiveFeed;
  signal: AbortSignal;
  /** Resume after this seq (the dashboard's newest event); default: only events from now on. */
  after: string | undefined;
}

const TICK_MS = 250;
const MAX_EVENTS_PER_TICK = 100;
const MAX_CHANGES_PER_TICK = 500;
const HEARTBEAT_MS = 15_000;

export function streamLive(c: Context, options: LiveStreamOptions): Response {
  const { queries, live, signal } = options;
  return streamSSE(c, async (stream) => {
    const cursor = live.subscribe();
    const stopped = new AbortController();
    const stop = () => stopped.abort();
    stream.onAbort(stop);
    signal.addEventListener('abort', stop, { once: true });
    try {
      const top = queries.lastSeq();
      let lastSeq =
        options.after !== undefined && /^\d{1,15}$/.test(options.after)
          ? Math.min(Number(options.after), top)
          : top;
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ lastSeq }) });
      let quietSince = Date.now();
      while (!stopped.signal.aborted) {
        const newest = queries.lastSeq();
        if (newest > lastSeq) {
          const skipped = Math.max(0, newest - lastSeq - MAX_EVENTS_PER_TICK);
          const events = queries.eventsAfter(lastSeq + skipped, MAX_EVENTS_PER_TICK);
          lastSeq = newest;
          await stream.writeSSE({ event: 'events', data: JSON.stringify({ events, skipped }) });
          quietSince = Date.now();
        }
        const { changes, missed } = cursor.next();
        if (changes.length > 0 || missed > 0) {
          const kept = changes.slice(-MAX_CHANGES_PER_TICK);
          await stream.writeSSE({
            event: 'runs',
            data: JSON.stringify({ changes: kept, missed: missed + changes.length - kept.length }),
          });
          quietSince = Date.now();
        }
        if (Date.now() - quietSince > HEARTBEAT_MS) {
          await stream.writeSSE({ event: 'ping', data: '{}' });
          quietSince = Date.now();
        }
        await sleep(TICK_MS, stopped.signal);
      }
    } finally {
      cursor.close();
      signal.removeEventListener('abort', stop);
    }
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
