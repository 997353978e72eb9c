// Budget windows are calendar periods in UTC: the hour, the day or the month `now` falls in.
import type { Budget } from '../core/route.js';

export type BudgetWindow = Budget['window'];

/** When the window holding `now` began (ms since the epoch, UTC). */
export function windowStart(window: BudgetWindow, now: number): number {
  const d = new Date(now);
  switch (window) {
    case 'hour':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours());
    case 'day':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    case 'month':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
}

/** When the window holding `now` ends: the next one's start. */
export function windowEnd(window: BudgetWindow, now: number): number {
  const start = new Date(windowStart(window, now));
  switch (window) {
    case 'hour':
      return start.getTime() + 3_600_000;
    case 'day':
      return Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1);
    case 'month':
      return Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
  }
}
