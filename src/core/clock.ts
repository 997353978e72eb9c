// Time as a dependency: sources that wait (schedules, backoff, debounce) take a Clock, so tests
// drive them with a controllable one instead of real time.

/** Cancels a timer set with Clock.setTimer; a no-op once it has fired. */
export type CancelTimer = () => void;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Calls `callback` once `ms` have passed. A callback may return a promise: a test clock waits
   * for it before moving time on, the system clock does not.
   */
  setTimer(callback: () => void | Promise<void>, ms: number): CancelTimer;
}

// setTimeout fires at once for delays past 2^31-1 ms (about 24.8 days): longer waits are chained.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Real time: Date.now() and setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, ms) {
    const dueAt = Date.now() + Math.max(0, ms);
    let timer: NodeJS.Timeout;
    const arm = () => {
      const left = dueAt - Date.now();
      timer =
        left > MAX_TIMEOUT_MS
          ? setTimeout(arm, MAX_TIMEOUT_MS)
          : setTimeout(() => void callback(), Math.max(0, left));
    };
    arm();
    return () => clearTimeout(timer);
  },
};

/**
 * Waits `ms` on `clock`, so tests drive the wait as they drive the clock; rejects with the
 * signal's reason if it aborts first.
 */
export function sleepOn(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    // No timer for no wait: a test clock would hold it until the test moves time.
    if (ms <= 0) {
      resolve();
      return;
    }
    const onAbort = () => {
      cancel();
      reject(signal.reason as Error);
    };
    const cancel = clock.setTimer(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
