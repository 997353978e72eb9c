// The dead-letter queue: inspect each one's errors, replay one, the selected or all (of a route),
// purge the selected.
import { FilterSelect } from '../components/filter-select';
import { Fragment, useState } from 'react';
import { api, query, type DeadItem, type Page, type RouteInfo } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { Pager } from '../components/pager';
import { dateTime, shortId } from '../format';
import { useLive } from '../live';
import { navigate, type Location } from '../router';
import { useFetch } from '../use-fetch';

export function DlqPage({ location, canWrite }: { location: Location; canWrite: boolean }) {
  const route = location.params.get('route') ?? undefined;
  const cursor = location.params.get('cursor') ?? undefined;
  const page = useFetch(JSON.stringify({ route, cursor }), () =>
    api.get<Page<DeadItem>>(`/dlq${query({ route, cursor, limit: '50' })}`),
  );
  const routes = useFetch('routes', () => api.get<{ routes: RouteInfo[] }>('/routes'));
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [result, setResult] = useState<{ message?: string; error?: unknown }>({});
  useLive({
    onRuns(changes) {
      if (changes.some((c) => c.status === 'dead')) page.reload();
    },
  });

  const act = async (what: () => Promise<Record<string, number>>, verb: string) => {
    try {
      const answer = await what();
      const n = Object.values(answer)[0] ?? 0;
      setResult({ message: `${verb} ${n} dead letter${n === 1 ? '' : 's'}.` });
      setSelected(new Set());
      page.reload();
    } catch (error) {
      setResult({ error });
    }
  };
  const items = page.data?.items ?? [];
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const why = canWrite ? '' : 'the read-only token cannot change the queue';

  return (
    <section>
      <header className="page-head">
        <h1>Dead letters</h1>
        <span className="muted">runs that failed for good: fix the cause, then replay</span>
      </header>
      <div className="filters">
        <FilterSelect
          label="route"
          value={route}
          options={(routes.data?.routes ?? []).map((r) => ({
            value: r.route,
            label: `${r.route} (${r.dead})`,
          }))}
          onChange={(value) => navigate('dlq', { route: value })}
        />
        <div className="actions">
          <button
            disabled={!canWrite || selected.size === 0}
            title={why}
            onClick={() =>
              void act(() => api.post('/dlq/replay', { ids: [...selected] }), 'Replayed')
            }
          >
            Replay selected ({selected.size})
          </button>
          <button
            disabled={!canWrite || items.length === 0}
            title={why}
            onClick={() =>
              void act(
                () => api.post('/dlq/replay', route === undefined ? { all: true } : { route }),
                'Replayed',
              )
            }
          >
            Replay all{route === undefined ? '' : ` of ${route}`}
          </button>
          <button
            className="danger"
            disabled={!canWrite || selected.size === 0}
            title={why}
            onClick={() => {
              if (window.confirm(`Delete ${selected.size} dead letters for good?`))
                void act(() => api.post('/dlq/purge', { ids: [...selected] }), 'Purged');
            }}
          >
            Purge selected
          </button>
        </div>
      </div>
      {result.message === undefined ? null : <div className="note">{result.message}</div>}
      <ErrorNote error={result.error ?? page.error} />
      {page.data === undefined ? (
        page.loading ? (
          <Loading />
        ) : null
      ) : items.length === 0 ? (
        <Empty title="The dead-letter queue is empty">
          Runs land here when they throw NonRetryableError or fail every attempt.
        </Empty>
      ) : (
        <table className="grid dlq">
          <thead>
            <tr>
              <th />
              <th>id</th>
              <th>route</th>
              <th>event</th>
              <th>attempts</th>
              <th>dead since</th>
              <th>reason</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((d) => (
              <Fragment key={d.deliveryId}>
                <tr
                  className="clickable"
                  onClick={() => setOpen(open === d.deliveryId ? undefined : d.deliveryId)}
                >
                  <td onClick={(e) => e.stopPropagation()}>
                    <input
                      type="checkbox"
                      aria-label={`select ${d.deliveryId}`}
                      checked={selected.has(d.deliveryId)}
                      onChange={() => toggle(d.deliveryId)}
                    />
                  </td>
                  <td>
                    <a href={`#/runs/${d.deliveryId}`} onClick={(e) => e.stopPropagation()}>
                      {d.deliveryId}
                    </a>
                  </td>
                  <td>{d.route}</td>
                  <td>
                    {d.eventType} <code title={d.eventId}>{shortId(d.eventId)}</code>
                  </td>
                  <td>{d.attempts}</td>
                  <td>{dateTime(d.deadAt)}</td>
                  <td className="error-cell">{d.reason}</td>
                  <td onClick={(e) => e.stopPropagation()}>
                    <button
                      className="small"
                      disabled={!canWrite}
                      title={why}
                      onClick={() =>
                        void act(() => api.post(`/dlq/${d.deliveryId}/replay`), 'Replayed')
                      }
                    >
                      Replay
                    </button>
                  </td>
                </tr>
                {open === d.deliveryId ? (
                  <tr className="detail">
                    <td />
                    <td colSpan={7}>
                      <ol className="errors">
                        {d.errors.map((e) => (
                          <li key={`${e.attempt}-${e.at}`}>
                            <span className="muted">
                              attempt {e.attempt} · {dateTime(e.at)}
                            </span>
                            <pre className="error-text">{e.error}</pre>
                          </li>
                        ))}
                      </ol>
                      <a href={`#/events/${encodeURIComponent(d.eventId)}`}>
                        the event and its lineage →
                      </a>
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        cursor={cursor}
        next={page.data?.nextCursor ?? null}
        onNewest={() => navigate('dlq', { route })}
        onOlder={(next) => navigate('dlq', { route, cursor: next })}
      />
    </section>
  );
}
