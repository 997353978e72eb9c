// The bus sink: publishes the event a handler recorded with ctx.outbox.bus.publish. Its id was
// fixed when it was recorded, so publishing it again after a crash is a dropped duplicate.
import type { Bus } from '../../bus/bus.js';
import type { AgentdEvent } from '../../core/envelope.js';
import { SinkError, type Sink, type SinkDelivery } from '../sink.js';

export class BusSink implements Sink {
  readonly name = 'bus';

  constructor(private readonly bus: Pick<Bus, 'publish'>) {}

  async deliver(delivery: SinkDelivery): Promise<unknown> {
    if (delivery.action !== 'publish')
      throw new SinkError(`bus: no action ${delivery.action}`, { retryable: false });
    const event = delivery.params as AgentdEvent;
    const [result] = await this.bus.publish([event]);
    return { id: event.id, source: event.source, type: event.type, duplicate: result?.duplicate };
  }
}
