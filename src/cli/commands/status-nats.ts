// agentd status on a NATS bus, from whichever machine asks: per route what its consumer holds, its
// backlog, and the governor's shared state (budget used and left, paused and why) from the KV
// bucket every worker writes; the global budget likewise.
import { openGovernorStore } from '../../app-stores.js';
import { NatsBus } from '../../bus/nats/nats-bus.js';
import { natsStatus } from '../../bus/nats/nats-inspect.js';
import type { BudgetAmountStatus, BudgetStatus } from '../../governor/budget-ledger.js';
import type { PauseStatus } from '../../governor/governor-status.js';
import { storedGovernorStatus } from '../../governor/stored-status.js';
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
  const { config } = store.loaded;
  const bus = await openExistingBus(store);
  const snapshot = await withStore(bus, async (open) => {
    if (!(open instanceof NatsBus)) throw new Error('expected the NATS bus');
    const [inspected, backlogs, governor] = await Promise.all([
      natsStatus(open),
      open.backlogs(),
      openGovernorStore(open, config).then((governor) => storedGovernorStatus(config, governor)),
    ]);
    return { ...inspected, backlogs, governor };
  });
  const nats = config.bus?.kind === 'nats' ? config.bus : undefined;
  const kept = new Map(snapshot?.governor.routes.map((r) => [r.route, r]));
  const global = snapshot?.governor.global ?? {};
  const status = {
    daemon: daemon ?? null,
    bus: { kind: 'nats', servers: nats?.servers, stream: nats?.stream ?? 'AGENTD' },
    config: store.loaded.file ?? null,
    events: snapshot?.events ?? 0,
    routes: (snapshot?.routes ?? []).map((r) => ({
      ...r,
      // Queued, out with a worker, and parked on a wait: what the backpressure limit counts.
      backlog: snapshot?.backlogs.get(r.route) ?? null,
      priority: kept.get(r.route)?.priority ?? 0,
      budget: kept.get(r.route)?.budget ?? null,
      paused: kept.get(r.route)?.paused ?? null,
    })),
    governor: { budget: global.budget ?? null, paused: global.paused ?? null },
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
      'backlog',
      'queued',
      'out (running, parked, retrying)',
      'redelivered',
      'dead',
      'workers waiting',
      'budget',
      'paused',
    ],
    status.routes.map((r) => [
      r.active ? r.route : `${r.route} (removed from config)`,
      r.types.join(', '),
      r.backlog ?? '',
      r.queued,
      r.outstanding,
      r.redelivered,
      r.dead,
      r.waitingWorkers,
      r.budget === null ? '' : describeBudget(r.budget),
      r.paused === null ? 'no' : describePause(r.paused),
    ]),
    'no routes yet (they are registered when a worker starts)',
  );
  if (status.governor.budget !== null)
    process.stdout.write(
      `global budget: ${describeBudget(status.governor.budget)}${status.governor.paused === null ? '' : ` (paused: ${describePause(status.governor.paused)})`}\n`,
    );
}

/** `600/1000 tokens (400 left) this day`, cost likewise: as the SQLite status prints it. */
function describeBudget(budget: BudgetStatus): string {
  const part = (amount: BudgetAmountStatus, money: boolean) => {
    const fmt = (n: number) => (money ? `$${n}` : `${n}`);
    return `${fmt(amount.used)}/${fmt(amount.limit)}${money ? '' : ' tokens'} (${fmt(amount.left)} left)`;
  };
  const parts = [
    ...(budget.tokens === undefined ? [] : [part(budget.tokens, false)]),
    ...(budget.costUsd === undefined ? [] : [part(budget.costUsd, true)]),
  ];
  return `${parts.join(', ')} this ${budget.window}`;
}

function describePause(pause: PauseStatus): string {
  return pause.cause === 'operator'
    ? `by ${pause.by ?? 'an operator'}: ${pause.reason}`
    : `budget spent, until ${pause.until ?? 'the window ends'}`;
}
