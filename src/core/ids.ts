// Time-ordered ids for everything agentd creates: sortable, so indexes stay append-only.
import { v7 } from 'uuid';

export function newEventId(): string {
  return v7();
}

/** A W3C trace-context span id: 8 random bytes as 16 hex digits. */
export function newSpanId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('hex');
}

/** A W3C trace-context trace id: 16 random bytes as 32 hex digits. */
export function newTraceId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('hex');
}
