// The key a subscription orders its deliveries by on NATS: the route's key expression evaluated on
// the event when it has one (SubscriptionOptions.key), else the event's partitionkey; its lock
// token; and how the key lock finds a key's head in the stream.
import { compileKeyExpression, type KeyFunction } from '../../core/key-expression.js';
import type { AgentdEvent } from '../../core/envelope.js';
import type { SubscriptionOptions } from '../bus.js';
import { SubjectHeads, type KeyHeads } from './key-heads.js';
import { keyToken, routeKeyToken, type Names } from './names.js';
import type { NatsStore } from './nats-store.js';
import { RouteKeyHeads } from './route-key-heads.js';

export class RouteKey {
  private readonly expression: string | undefined;
  private readonly evaluate: KeyFunction | undefined;
  private readonly ordered: boolean;

  /** Throws a ValidationError naming what is wrong with the route's key expression. */
  constructor(options: Pick<SubscriptionOptions, 'key' | 'ordering'>) {
    this.expression = options.key;
    this.evaluate = options.key === undefined ? undefined : compileKeyExpression(options.key);
    this.ordered = options.ordering === 'key';
  }

  /**
   * Delivery.key: the route key (also on routes that do not order by it: per-key rate limits use
   * it), else the partitionkey of a route ordered by key. Undefined when the event has none.
   */
  keyOf(event: AgentdEvent): string | undefined {
    if (this.evaluate !== undefined) return this.evaluate(event) ?? undefined;
    return this.ordered ? event.partitionkey : undefined;
  }

  /** The token of the key lock the delivery must hold; undefined when it runs unordered. */
  lockTokenOf(event: AgentdEvent): string | undefined {
    if (!this.ordered) return undefined;
    if (this.expression === undefined)
      return event.partitionkey === undefined ? undefined : keyToken(event.partitionkey);
    const key = this.evaluate?.(event) ?? null;
    return key === null ? undefined : routeKeyToken(this.expression, key);
  }

  /** Partition keys are in the subject; route keys are found by reading the route's messages. */
  heads(
    store: NatsStore,
    names: Names,
    subToken: string,
    types: readonly string[],
    matches: (type: string) => boolean,
  ): KeyHeads {
    if (this.expression === undefined)
      return new SubjectHeads(store, names, subToken, types, matches);
    return new RouteKeyHeads({
      store,
      names,
      subToken,
      types,
      matches,
      keyTokenOf: (event) => this.lockTokenOf(event),
    });
  }
}
