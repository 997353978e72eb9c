// Routes: what each one listens to, its backlog and state, refreshed every two seconds.
import { useEffect } from 'react';
import { api, type RouteInfo } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { duration } from '../format';
import { href } from '../router';
import { useFetch } from '../use-fetch';

export function RoutesPage() {
  const routes = useFetch('routes', () => api.get<{ routes: RouteInfo[] }>('/routes'));
  useEffect(() => {
    const timer = setInterval(routes.reload, 2_000);
    return () => clearInterval(timer);
  }, [routes.reload]);
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
        <table className="grid">
          <thead>
            <tr>
              <th>route</th>
              <th>types</th>
              <th>state</th>
              <th className="num">running</th>
              <th className="num">queued</th>
              <th className="num">retrying</th>
              <th className="num">dead</th>
              <th className="num">completed</th>
              <th>oldest queued</th>
              <th>budget</th>
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
                  <span
                    className={`status status-${r.active ? (r.paused ? 'retrying' : 'completed') : 'skipped'}`}
                  >
                    {r.active ? (r.paused ? 'paused' : 'active') : 'removed'}
                  </span>
                </td>
                <td className="num">{r.inFlight || r.running}</td>
                <td className="num">{r.queued}</td>
                <td className="num">{r.retrying}</td>
                <td className="num">
                  {r.dead === 0 ? 0 : <a href={href('dlq', { route: r.route })}>{r.dead}</a>}
                </td>
                <td className="num">{r.completed}</td>
                <td>{duration(r.oldestQueuedAgeMs)}</td>
                <td className="muted">—</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
