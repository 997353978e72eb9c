// Span times: spans take performance.now() milliseconds (cheap, monotonic) and exporters read
// wall-clock time since the epoch, as an HrTime or, in the OTLP writers, as its two parts
// (no array per span). The two clocks are tied once, at performance.timeOrigin.
import type { HrTime, TimeInput } from '@opentelemetry/api';

const ORIGIN_SECONDS = Math.floor(performance.timeOrigin / 1_000);
const ORIGIN_NANOS = Math.round((performance.timeOrigin - ORIGIN_SECONDS * 1_000) * 1e6);

export function hrTimeOf(perfMs: number): HrTime {
  const seconds = unixSecondsOf(perfMs);
  return [seconds, unixNanosOf(perfMs, seconds)];
}

/** The whole seconds since the epoch of a performance.now() time. */
export function unixSecondsOf(perfMs: number): number {
  return ORIGIN_SECONDS + Math.floor((ORIGIN_NANOS + Math.round(perfMs * 1e6)) / 1e9);
}

/** The nanoseconds past `seconds` (its unixSecondsOf) of a performance.now() time. */
export function unixNanosOf(perfMs: number, seconds: number): number {
  return ORIGIN_NANOS + Math.round(perfMs * 1e6) - (seconds - ORIGIN_SECONDS) * 1e9;
}

/**
 * A TimeInput as performance.now() milliseconds; as the SDK reads it, a number no later than
 * performance.now() is a performance timestamp and a larger one milliseconds since the epoch.
 */
export function perfMsOf(time: TimeInput | undefined): number {
  const now = performance.now();
  if (time === undefined) return now;
  if (Array.isArray(time))
    return (time[0] - ORIGIN_SECONDS) * 1_000 + (time[1] - ORIGIN_NANOS) / 1e6;
  const ms = time instanceof Date ? time.getTime() : time;
  return ms <= now ? ms : ms - performance.timeOrigin;
}
