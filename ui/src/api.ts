// The dashboard's client for agentd's admin API: the token from sessionStorage on every request,
// and the live stream read with fetch (EventSource cannot send an Authorization header).

const TOKEN_KEY = 'agentd.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** A link printed by `agentd start` carries the token in the fragment: keep it, then drop it from the URL. */
export function takeTokenFromUrl(): void {
  const match = /^#token=([^&]+)/.exec(window.location.hash);
  if (match?.[1] === undefined) return;
  storeToken(decodeURIComponent(match[1]));
  history.replaceState(null, '', `${window.location.pathname}#/`);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => undefined;

export function whenUnauthorized(callback: () => void): void {
  onUnauthorized = callback;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = storedToken();
  const response = await fetch(`/api${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  if (!response.ok) {
    if (response.status === 401) onUnauthorized();
    const message = (parsed as { error?: string } | undefined)?.error ?? response.statusText;
    throw new ApiError(response.status, message);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
};

export function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
  );
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries).toString()}`;
}

// --- shapes the API answers with ---

export type RunStatus =
  'queued' | 'retrying' | 'running' | 'completed' | 'skipped' | 'dead' | 'replayed';

export const RUN_STATUSES: RunStatus[] = [
  'queued',
  'retrying',
  'running',
  'completed',
  'skipped',
  'dead',
  'replayed',
];

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Envelope {
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  partitionkey?: string;
  traceparent?: string;
  causationid?: string;
  correlationid: string;
  depth: number;
  trust: string;
  origin?: string;
  data?: unknown;
  [extension: string]: unknown;
}

export interface EventRun {
  runId: string;
  route: string;
  status: RunStatus;
  attempt: number;
}

export interface EventItem {
  seq: number;
  storedAt: string;
  event: Envelope;
  runs: EventRun[];
}

export interface ErrorRecord {
  attempt: number;
  at: string;
  error: string;
}

export interface RunRecord {
  runId: string;
  route: string;
  status: RunStatus;
  attempt: number;
  eventId: string;
  eventType: string;
  partitionkey: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  errors: ErrorRecord[];
}

export interface RunDetail extends RunRecord {
  deadReason: string | null;
  event: Envelope;
  steps: { name: string; at: string; value: unknown }[];
}

export interface DeadItem {
  deliveryId: string;
  route: string;
  eventId: string;
  eventType: string;
  attempts: number;
  reason: string;
  errors: ErrorRecord[];
  deadAt: string;
}

export interface RouteInfo {
  route: string;
  active: boolean;
  types: string[];
  queued: number;
  running: number;
  retrying: number;
  dead: number;
  completed: number;
  oldestQueuedAgeMs: number | null;
  inFlight: number;
  paused: boolean;
  budget: unknown;
}

export interface LineageStep {
  name: string;
  at: string;
  tookMs: number | null;
  tokens?: number;
}

export interface LineageRun {
  runId: string;
  route: string;
  status: RunStatus;
  attempt: number;
  durationMs: number | null;
  lastError: string | null;
  steps: LineageStep[];
  tokens?: { input: number; output: number; total: number; turns: number };
  emitted: LineageEvent[];
}

export interface LineageEvent {
  id: string;
  type: string;
  storedAt: string;
  runs: LineageRun[];
  caused: LineageEvent[];
}

export interface Lineage {
  root: LineageEvent;
  events: number;
  truncated: boolean;
}

export interface RunChange {
  runId: string;
  route: string;
  eventId: string;
  status: RunStatus;
  attempt: number;
  at: number;
}

export interface LiveHandlers {
  onEvents(events: EventItem[], skipped: number): void;
  onRuns(changes: RunChange[]): void;
  onState(connected: boolean): void;
}

/** Follows GET /api/stream until `signal` aborts, reconnecting after a drop. */
export async function followStream(handlers: LiveHandlers, signal: AbortSignal): Promise<void> {
  let after: number | undefined;
  while (!signal.aborted) {
    try {
      const token = storedToken();
      const response = await fetch(`/api/stream${after === undefined ? '' : `?after=${after}`}`, {
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        signal,
      });
      if (response.status === 401) {
        onUnauthorized();
        return;
      }
      if (!response.ok || response.body === null) throw new Error(String(response.status));
      handlers.onState(true);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(message)?.[1];
          const data = /^data: (.*)$/m.exec(message)?.[1] ?? '{}';
          if (event === 'hello') after = (JSON.parse(data) as { lastSeq: number }).lastSeq;
          if (event === 'events') {
            const body = JSON.parse(data) as { events: EventItem[]; skipped: number };
            const last = body.events.at(-1);
            if (last !== undefined) after = last.seq;
            handlers.onEvents(body.events, body.skipped);
          }
          if (event === 'runs')
            handlers.onRuns((JSON.parse(data) as { changes: RunChange[] }).changes);
        }
      }
    } catch {
      // Dropped or refused: say so and try again shortly.
    }
    handlers.onState(false);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}
