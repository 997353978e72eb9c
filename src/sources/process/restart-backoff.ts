// When a supervised command is started again after it exits: the restart policy decides whether,
// the backoff how long to wait (doubling per restart, reset by a run that stayed up long enough).
import type { RestartPolicy } from '../../core/process-source-config.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export function shouldRestart(
  policy: RestartPolicy,
  exit: { exitCode: number | null; signal: string | null },
): boolean {
  switch (policy) {
    case 'always':
      return true;
    case 'on-failure':
      return exit.exitCode !== 0 || exit.signal !== null;
    case 'never':
      return false;
  }
}

export class RestartBackoff {
  /** Restarts since the last run that counted as healthy. */
  private consecutive = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next start, given how long the run that just ended lasted. */
  next(runMs: number): number {
    // A run that outlived the longest delay was healthy: a crash after it starts the ladder again.
    if (runMs >= this.options.maxMs) this.consecutive = 0;
    const delay = Math.min(this.options.maxMs, this.options.initialMs * 2 ** this.consecutive);
    this.consecutive++;
    return delay;
  }
}
