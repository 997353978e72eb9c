// The handler's view of one run: durable steps, buffered emits, an abort signal and a logger.
import type { Delivery } from '../bus/bus.js';
import { deriveEvent, type AgentdEvent, type EventInput } from '../core/envelope.js';
import { NonRetryableError } from '../core/errors.js';
import type { HandlerContext, RunInfo } from '../core/route.js';
import type { Logger } from '../observe/log.js';

export interface RunContextOptions {
  delivery: Delivery;
  route: string;
  signal: AbortSignal;
  log: Logger;
  /** The `source` of events this harness emits. */
  source: string;
  maxDepth: number;
}

export class RunContext implements HandlerContext {
  readonly run: RunInfo;
  readonly signal: AbortSignal;
  private readonly emitted: AgentdEvent[] = [];
  private memo: Map<string, unknown> | undefined;
  private readonly nameCounts = new Map<string, number>();
  private sealed = false;
  private logger: Logger | undefined;

  constructor(private readonly options: RunContextOptions) {
    const { delivery } = options;
    this.signal = options.signal;
    this.run = {
      id: delivery.deliveryId,
      route: options.route,
      attempt: delivery.attempt,
      maxAttempts: delivery.maxAttempts,
    };
  }

  get log(): Logger {
    this.logger ??= this.options.log.child({
      eventId: this.options.delivery.event.id,
      route: this.run.route,
      runId: this.run.id,
    });
    return this.logger;
  }

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    this.assertLive('step');
    const count = (this.nameCounts.get(name) ?? 0) + 1;
    this.nameCounts.set(name, count);
    const key = count === 1 ? name : `${name}#${count}`;
    this.memo ??= await this.options.delivery.loadSteps();
    if (this.memo.has(key)) return this.memo.get(key) as T;
    this.signal.throwIfAborted();
    const value = await fn();
    this.assertLive('step');
    // Handing back the stored JSON form makes a first run and a resumed one see the same value.
    const stored = await this.options.delivery.saveStep(key, value);
    this.memo.set(key, stored);
    return stored as T;
  }

  emit(events: EventInput | readonly EventInput[]): AgentdEvent[] {
    this.assertLive('emit');
    const parent = this.options.delivery.event;
    const list: readonly EventInput[] = Array.isArray(events) ? events : [events as EventInput];
    const derived = list.map((input) => deriveEvent(parent, input, this.options.source));
    for (const event of derived) {
      if (event.depth > this.options.maxDepth) {
        throw new NonRetryableError(
          `loop guard: emitting ${event.type} would reach depth ${event.depth}, above worker.maxDepth ${this.options.maxDepth}`,
        );
      }
    }
    this.emitted.push(...derived);
    return derived;
  }

  /** Ends the run: later steps and emits are refused, the buffered emits are handed over. */
  seal(): AgentdEvent[] {
    this.sealed = true;
    return this.emitted;
  }

  private assertLive(what: string): void {
    if (this.sealed) {
      throw new NonRetryableError(
        `ctx.${what} called after run ${this.run.id} ended (a handler kept running past its timeout or abort)`,
      );
    }
  }
}
