// The ctx.waitForEvent scenarios (wait-for-event-suite.ts) on NATS, each daemon on a namespace of
// its own on the shared server.
import { describe, it } from 'vitest';
import { waitForEventSuite } from '../outbox/wait-for-event-suite.js';
import { startNatsAgentd, stopAllNatsAgentd, until } from './nats/nats-agentd.js';
import { NATS_URL, natsAvailable } from './nats/nats-server.js';

if (await natsAvailable()) {
  waitForEventSuite({
    name: 'NatsBus',
    start: startNatsAgentd,
    stopAll: stopAllNatsAgentd,
    until,
  });
} else {
  describe('ctx.waitForEvent on a NatsBus', () => {
    it.skip(`skipped: NATS not reachable at ${NATS_URL}`, () => {});
  });
}
