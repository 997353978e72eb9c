// One run status change as workers publish it on `<stream>.hist.<route>` and the history
// projection reads it back: small, flat JSON, so publishing costs the run path next to nothing.
import type { LiveRunStatus } from '../server/admin-types.js';

export interface HistoryMessage {
  /** The NATS delivery id, `<run seq>@<route>`: one run across its attempts. */
  run: string;
  route: string;
  /** The run's stream sequence (for a DLQ replay, the replayed copy's). */
  seq: number;
  /** The event's (source, id): finds it when `seq` is a replayed copy's, which is no event row. */
  source: string;
  eventId: string;
  status: LiveRunStatus;
  /** Attempts spent, this one included (a released or deferred run has not spent this one). */
  attempt: number;
  /** When the change happened (ms since the epoch). */
  at: number;
  /** Errors of earlier attempts, as the bus handed them to this one (on `running`). */
  errors?: { attempt: number; at: string; error: string }[];
  /** This attempt's error (retrying, dead) or why it ended (cancelled). */
  error?: string;
}

const STATUSES = new Set<string>([
  'queued',
  'running',
  'completed',
  'retrying',
  'dead',
  'skipped',
  'cancelled',
  'waiting',
]);

/** The message in `data`, or undefined when it is not one (another writer, a newer format). */
export function decodeHistoryMessage(data: Uint8Array): HistoryMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  const m = value as Partial<HistoryMessage> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.run !== 'string' ||
    typeof m.route !== 'string' ||
    typeof m.seq !== 'number' ||
    typeof m.source !== 'string' ||
    typeof m.eventId !== 'string' ||
    typeof m.status !== 'string' ||
    !STATUSES.has(m.status) ||
    typeof m.attempt !== 'number' ||
    typeof m.at !== 'number'
  )
    return undefined;
  return m as HistoryMessage;
}
