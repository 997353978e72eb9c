// Routes: what each one listens to, its backlog, what runs now, whether it is paused (and why) and
// its budget; below, the circuits that are not closed. Refreshed every two seconds. Whatever the
// governor does not report (no budget set, no governor in this process) shows as a dash.
import { useEffect } from 'react';
import { api, type CircuitView, type RouteInfo, type RoutesAnswer } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { dateTime, duration } from '../format';
import { href } from '../router';
import { useFetch } from '../use-fetch';

const NONE = '—';

export function RoutesPage() {
  const routes = useFetch('routes', () => api.get<RoutesAnswer>('/routes'));
  useEffect(() => {
    const timer = setInterval(routes.reload, 2_000);
    return () => clearInterval(timer);
  }, [routes.reload]);
  const circuits = (routes.data?.governor?.circuits ?? []).filter((c) => c.state !== 'closed');
  return (
    <section>
      <header className="page-head">
        <h1>Routes</h1>
        <span className="muted">each route is a subscription with its own backlog</span>
      </header>
      <ErrorNote error={routes.error} />
      {routes.data === undefined ? (
        routes.loading ? (
          <Loading />
        ) : null
      ) : routes.data.routes.length === 0 ? (
        <Empty title="No routes yet">
          Routes are registered when the daemon starts with a config that has some.
        </Empty>
      ) : (
        <table className="grid routes">
          <thead>
            <tr>
              <th>route</th>
              <th>types</th>
              <th>state</th>
              <th className="num">in flight</th>
              <th className="num" title="queued and retrying">
                backlog
              </th>
              <th className="num">retrying</th>
              <th>oldest queued</th>
              <th className="num">runs/min</th>
              <th>budget used</th>
              <th>budget left</th>
              <th className="num">dead</th>
              <th className="num">completed</th>
            </tr>
          </thead>
          <tbody>
            {routes.data.routes.map((r) => (
              <tr key={r.route}>
                <td>
                  <a href={href('runs', { route: r.route })}>{r.route}</a>
                </td>
                <td className="type">{r.types.join(', ')}</td>
                <td>
                  <RouteState route={r} />
                </td>
                <td className="num">{r.inFlight || r.running}</td>
                <td className="num">{r.queued + r.retrying}</td>
                <td className="num">{r.retrying}</td>
                <td>{r.oldestQueuedAgeMs === null ? NONE : duration(r.oldestQueuedAgeMs)}</td>
                <td className="num">{r.runsPerMinute ?? NONE}</td>
                <td>{budgetUsed(r)}</td>
                <td>{budgetLeft(r)}</td>
                <td className="num">
                  {r.dead === 0 ? 0 : <a href={href('dlq', { route: r.route })}>{r.dead}</a>}
                </td>
                <td className="num">{r.completed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {routes.data === undefined ? null : routes.data.governor === null ? (
        <p className="muted">
          No governor runs in this process (its worker processes run the routes): budgets, rates and
          circuits show there, in agentd status.
        </p>
      ) : (
        <Circuits circuits={circuits} />
      )}
    </section>
  );
}

function RouteState({ route: r }: { route: RouteInfo }) {
  if (!r.active) return <span className="status status-skipped">removed</span>;
  if (!r.paused) return <span className="status status-completed">active</span>;
  const pause = r.pause ?? undefined;
  const until = pause?.until === undefined ? '' : ` until ${dateTime(pause.until)}`;
  return (
    <span className="route-paused">
      <span className="status status-paused">
        paused{pause === undefined ? '' : ` (${pause.cause})`}
      </span>
      {pause === undefined ? null : (
        <span className="pause-reason">
          {pause.reason}
          {until}
          {pause.by === undefined ? '' : ` · by ${pause.by}`}
        </span>
      )}
    </span>
  );
}

function budgetUsed(r: RouteInfo): string {
  const b = r.budget ?? undefined;
  const parts = [
    b?.tokens === undefined
      ? undefined
      : `${count(b.tokens.used)} / ${count(b.tokens.limit)} tokens`,
    b?.costUsd === undefined ? undefined : `${usd(b.costUsd.used)} / ${usd(b.costUsd.limit)}`,
  ].filter((p) => p !== undefined);
  return parts.length === 0 ? NONE : `${parts.join(' · ')} (${b?.window ?? ''})`;
}

function budgetLeft(r: RouteInfo): string {
  const b = r.budget ?? undefined;
  const parts = [
    b?.tokens === undefined ? undefined : `${count(b.tokens.left)} tokens`,
    b?.costUsd === undefined ? undefined : usd(b.costUsd.left),
  ].filter((p) => p !== undefined);
  if (parts.length === 0) return NONE;
  return b?.spent === true ? `spent, resets ${dateTime(b.resetsAt)}` : parts.join(' · ');
}

function Circuits({ circuits }: { circuits: CircuitView[] }) {
  return (
    <>
      <h2>Open circuits</h2>
      {circuits.length === 0 ? (
        <p className="muted">
          None: every model provider and outbox sink is being called normally.
        </p>
      ) : (
        <table className="grid">
          <thead>
            <tr>
              <th>kind</th>
              <th>name</th>
              <th>state</th>
              <th>next trial</th>
              <th className="num">failures in a row</th>
              <th>last error</th>
            </tr>
          </thead>
          <tbody>
            {circuits.map((c) => (
              <tr key={`${c.kind}:${c.name}`}>
                <td>{c.kind}</td>
                <td>{c.name}</td>
                <td>
                  <span className={`status status-circuit-${c.state}`}>{c.state}</span>
                </td>
                <td>{c.until === undefined ? NONE : dateTime(c.until)}</td>
                <td className="num">{c.failures}</td>
                <td className="error-cell">{c.lastError ?? NONE}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function count(n: number): string {
  return n.toLocaleString('en');
}

function usd(n: number): string {
  return `$${n.toFixed(n < 1 ? 4 : 2)}`;
}
