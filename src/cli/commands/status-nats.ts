// agentd status on a NATS bus: per route, what its consumer holds, from whichever machine asks.
import { NatsBus } from '../../bus/nats/nats-bus.js';
import { natsStatus } from '../../bus/nats/nats-inspect.js';
import type { DaemonInfo } from '../../runtime/daemon-file.js';
import {
  openExistingBus,
  printJson,
  printTable,
  withStore,
  type CliStore,
} from '../cli-support.js';

export async function printNatsStatus(
  store: CliStore,
  daemon: DaemonInfo | undefined,
  json: boolean,
): Promise<void> {
  const bus = await openExistingBus(store);
  const snapshot = await withStore(bus, (open) => {
    if (!(open instanceof NatsBus)) throw new Error('expected the NATS bus');
    return natsStatus(open);
  });
  const nats = store.loaded.config.bus?.kind === 'nats' ? store.loaded.config.bus : undefined;
  const status = {
    daemon: daemon ?? null,
    bus: { kind: 'nats', servers: nats?.servers, stream: nats?.stream ?? 'AGENTD' },
    config: store.loaded.file ?? null,
    events: snapshot?.events ?? 0,
    routes: snapshot?.routes ?? [],
  };
  if (json) return printJson(status);
  process.stdout.write(
    `${daemon === undefined ? 'daemon: not running on this machine' : `daemon: running (pid ${daemon.pid}) on ${daemon.url}`}\n` +
      `bus: NATS ${[status.bus.servers ?? []].flat().join(', ')} stream ${status.bus.stream} (${status.events} events)\n` +
      `config: ${status.config ?? '(none)'}\n`,
  );
  printTable(
    [
      'route',
      'types',
      'queued',
      'out (running, parked, retrying)',
      'redelivered',
      'dead',
      'workers waiting',
    ],
    status.routes.map((r) => [
      r.active ? r.route : `${r.route} (removed from config)`,
      r.types.join(', '),
      r.queued,
      r.outstanding,
      r.redelivered,
      r.dead,
      r.waitingWorkers,
    ]),
    'no routes yet (they are registered when a worker starts)',
  );
}
