// Waiting in pull() for something to change: a message made ready, a fetch ended, a timeout, or
// the caller's abort — whichever comes first.
export class ChangeSignal {
  private readonly waiters = new Set<() => void>();

  /** Resolves on the next notify(), when `fetching` settles, after `ms`, or on abort. */
  wait(
    fetching: Promise<void> | undefined,
    ms: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      void fetching?.then(done);
    });
  }

  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
