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
 * listener on a fresh AbortSignal costs more than the rest of a no-op run's bookkeeping. The
 * AbortSignal itself is made only when the handler looks at ctx.signal: most never do, and making
 * one is a tenth of such a run's cost.
 */
export class RunAbort {
  private controller: AbortController | undefined;
  private abortedWith: { reason: Error } | undefined;
  private onAbort: ((reason: unknown) => void) | undefined;

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith.reason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  /** Why the run was aborted; undefined while it was not. */
  get reason(): Error | undefined {
    return this.abortedWith?.reason;
  }

  abort(reason: Error): void {
    if (this.abortedWith !== undefined) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }

  /** Resolves or rejects with `work`, or rejects with the abort reason as soon as the run aborts. */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.abortedWith !== undefined) return reject(this.abortedWith.reason);
      this.onAbort = reject;
      // Handlers may throw non-Errors carrying retry hints; they are passed on untouched.
      work.then(resolve, reject);
    });
  }
}
