// Runs, newest first, by route and status.
import { FilterSelect } from '../components/filter-select';
import { api, query, RUN_STATUSES, type Page, type RouteInfo, type RunRecord } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { Pager } from '../components/pager';
import { Status } from '../components/status';
import { dateTime, duration, shortId } from '../format';
import { useLive } from '../live';
import { navigate, type Location } from '../router';
import { useFetch } from '../use-fetch';

export function RunsPage({ location }: { location: Location }) {
  const p = location.params;
  const filter = { route: p.get('route') ?? undefined, status: p.get('status') ?? undefined };
  const cursor = p.get('cursor') ?? undefined;
  const page = useFetch(JSON.stringify({ ...filter, cursor }), () =>
    api.get<Page<RunRecord>>(`/runs${query({ ...filter, cursor, limit: '50' })}`),
  );
  const routes = useFetch('routes', () => api.get<{ routes: RouteInfo[] }>('/routes'));
  useLive({
    onRuns() {
      if (cursor === undefined) page.reload();
    },
  });
  const set = (name: string, value: string) => navigate('runs', { ...filter, [name]: value });
  return (
    <section>
      <header className="page-head">
        <h1>Runs</h1>
        <span className="muted">one per route and event, across its attempts</span>
      </header>
      <div className="filters">
        <FilterSelect
          label="route"
          value={filter.route}
          options={(routes.data?.routes ?? []).map((r) => r.route)}
          onChange={(value) => set('route', value)}
        />
        <FilterSelect
          label="status"
          value={filter.status}
          options={RUN_STATUSES}
          onChange={(value) => set('status', value)}
        />
      </div>
      <ErrorNote error={page.error} />
      {page.data === undefined ? (
        page.loading ? (
          <Loading />
        ) : null
      ) : page.data.items.length === 0 ? (
        <Empty title="No runs match">Runs appear when a route's handler takes an event.</Empty>
      ) : (
        <table className="grid">
          <thead>
            <tr>
              <th>run</th>
              <th>route</th>
              <th>status</th>
              <th>attempt</th>
              <th>event</th>
              <th>started</th>
              <th>took</th>
              <th>last error</th>
            </tr>
          </thead>
          <tbody>
            {page.data.items.map((r) => (
              <tr key={r.runId} className="clickable" onClick={() => navigate(`runs/${r.runId}`)}>
                <td>{r.runId}</td>
                <td>{r.route}</td>
                <td>
                  <Status status={r.status} />
                </td>
                <td>{r.attempt}</td>
                <td>
                  {r.eventType} <code title={r.eventId}>{shortId(r.eventId)}</code>
                </td>
                <td>{dateTime(r.startedAt)}</td>
                <td>{duration(r.durationMs)}</td>
                <td className="error-cell">{r.errors.at(-1)?.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        cursor={cursor}
        next={page.data?.nextCursor ?? null}
        onNewest={() => navigate('runs', filter)}
        onOlder={(next) => navigate('runs', { ...filter, cursor: next })}
      />
    </section>
  );
}
