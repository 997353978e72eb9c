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

// --- shapes the API answers with: declared once, beside the server code that writes them ---

export {
  ACTION_STATES,
  RUN_STATUSES,
  type ActionState,
  type CircuitView,
  type DeadLetterSummary as DeadItem,
  type EventEnvelope as Envelope,
  type EventSummary as EventItem,
  type Lineage,
  type LineageEvent,
  type LineageRun,
  type LineageStep,
  type OutboxAction,
  type Page,
  type RouteInfo,
  type RoutesAnswer,
  type RunChange,
  type RunDetail,
  type RunRecord,
  type RunStatus,
  type Whoami,
} from '../../src/server/admin-types';
import type { EventSummary, RunChange } from '../../src/server/admin-types';

export interface LiveHandlers {
  onEvents(events: EventSummary[], skipped: number): void;
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
            const body = JSON.parse(data) as { events: EventSummary[]; skipped: number };
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
