// The Bus conformance suite against a real nats-server with JetStream (the shared one on
// 127.0.0.1:4222); each test gets a namespace (streams, bucket) of its own.
import { describe, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { busConformance } from './conformance.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

const available = await natsAvailable();

if (available) {
  busConformance({
    name: 'NatsBus',
    async fresh() {
      const stream = uniqueStream();
      const open = () => NatsBus.connect({ servers: NATS_URL, stream, retentionMs: 60 * 60_000 });
      let bus = await open();
      return {
        bus,
        async reopen() {
          await bus.close();
          bus = await open();
          return bus;
        },
        async destroy() {
          await bus.close();
          await dropNamespace(NATS_URL, stream);
        },
      };
    },
  });
} else {
  describe('Bus conformance: NatsBus', () => {
    it.skip(`skipped: NATS not reachable at ${NATS_URL}`, () => {});
  });
}
