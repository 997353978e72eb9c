// One live stream per tab, shared by every page: pages subscribe to new events and run changes.
import { createContext, useContext, useEffect, useRef } from 'react';
import type { EventItem, RunChange } from './api';

export interface LiveListener {
  onEvents?(events: EventItem[], skipped: number): void;
  onRuns?(changes: RunChange[]): void;
}

export class LiveHub {
  private readonly listeners = new Set<LiveListener>();

  add(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  events(events: EventItem[], skipped: number): void {
    for (const l of this.listeners) l.onEvents?.(events, skipped);
  }

  runs(changes: RunChange[]): void {
    for (const l of this.listeners) l.onRuns?.(changes);
  }
}

export const LiveContext = createContext<LiveHub>(new LiveHub());

/** Calls the latest handlers for as long as the component is mounted. */
export function useLive(listener: LiveListener): void {
  const hub = useContext(LiveContext);
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(
    () =>
      hub.add({
        onEvents: (events, skipped) => latest.current.onEvents?.(events, skipped),
        onRuns: (changes) => latest.current.onRuns?.(changes),
      }),
    [hub],
  );
}
