// The publish function the daemon hands its sources: it tracks publishes in flight so shutdown
// can wait for them before the bus closes, and refuses new ones once sources are stopped.
import type { PublishResult } from '../bus/bus.js';
import type { AgentdEvent } from '../core/envelope.js';
import { AgentdError } from '../core/errors.js';
import type { Publish } from './source.js';

export class SourcesStoppedError extends AgentdError {
  constructor() {
    super('agentd is stopping: sources no longer publish', {
      code: 'SOURCES_STOPPED',
      retryable: true,
      retryAfterMs: 1_000,
    });
  }
}

export class SourcePublisher {
  private readonly inFlight = new Set<Promise<PublishResult[]>>();
  private stopped = false;

  constructor(private readonly target: Publish) {}

  readonly publish: Publish = (events: readonly AgentdEvent[]) => {
    if (this.stopped) return Promise.reject(new SourcesStoppedError());
    const pending = this.target(events);
    this.inFlight.add(pending);
    const forget = () => this.inFlight.delete(pending);
    pending.then(forget, forget);
    return pending;
  };

  /** Refuses further publishes and resolves once those in flight have settled. */
  async drain(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
  }
}
