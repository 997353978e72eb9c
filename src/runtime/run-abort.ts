// A run's abort switch, and the reason the worker gives when it stops runs on shutdown.

/** The worker is stopping: the run is handed back untouched (no attempt counted). */
export class ShutdownAbort extends Error {
  constructor() {
    super('agentd is shutting down');
  }
}

/**
 * Aborts a run (timeout, lost lease, cancellation, shutdown, park). It ends the wait for the
 * handler itself when it fires, instead of through an 'abort' listener: adding and removing a
 * listener on a fresh AbortSignal costs more than the rest of a no-op run's bookkeeping.
 */
export class RunAbort extends AbortController {
  private onAbort: ((reason: unknown) => void) | undefined;

  override abort(reason?: unknown): void {
    if (this.signal.aborted) return;
    super.abort(reason);
    this.onAbort?.(this.signal.reason);
  }

  /** Resolves or rejects with `work`, or rejects with the abort reason as soon as the run aborts. */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.signal.aborted) return reject(this.signal.reason as Error);
      this.onAbort = reject;
      // Handlers may throw non-Errors carrying retry hints; they are passed on untouched.
      work.then(resolve, reject);
    });
  }
}
