// The live event feed: newest first, filters by type, key and run status, and new events appear
// at the top as they are stored (on the first page), with their runs' statuses kept current.
import { FilterSelect } from '../components/filter-select';
import { useState } from 'react';
import { api, query, RUN_STATUSES, type EventItem, type Page, type RunChange } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { Pager } from '../components/pager';
import { RunChips } from '../components/status';
import { clock, dateTime, shortId } from '../format';
import { useLive } from '../live';
import { navigate, type Location } from '../router';
import { useFetch } from '../use-fetch';

const LIVE_ROWS = 200;

export function EventsPage({ location }: { location: Location }) {
  const p = location.params;
  const filter = {
    type: p.get('type') ?? undefined,
    key: p.get('key') ?? undefined,
    status: p.get('status') ?? undefined,
    q: p.get('q') ?? undefined,
  };
  const cursor = p.get('cursor') ?? undefined;
  const key = JSON.stringify({ ...filter, cursor });
  const page = useFetch(key, () =>
    api.get<Page<EventItem>>(`/events${query({ ...filter, cursor, limit: '50' })}`),
  );
  const [live, setLive] = useState<{ key: string; rows: EventItem[]; skipped: number }>({
    key,
    rows: [],
    skipped: 0,
  });
  const [runs, setRuns] = useState<Map<string, RunChange>>(new Map());
  const fresh = live.key === key ? live : { key, rows: [], skipped: 0 };
  const following = cursor === undefined && filter.status === undefined;

  useLive({
    onEvents(events, skipped) {
      if (!following) return;
      const matching = events.filter((e) => matches(e, filter)).reverse();
      if (matching.length === 0 && skipped === 0) return;
      setLive((prev) => {
        const base = prev.key === key ? prev : { key, rows: [], skipped: 0 };
        return {
          key,
          rows: [...matching, ...base.rows].slice(0, LIVE_ROWS),
          skipped: base.skipped + skipped,
        };
      });
    },
    onRuns(changes) {
      setRuns((prev) => {
        const next = new Map(prev);
        for (const change of changes) next.set(change.runId, change);
        return next;
      });
    },
  });

  const setParam = (name: string, value: string | undefined) =>
    navigate('events', { ...filter, [name]: value === '' ? undefined : value });
  const rows = [...fresh.rows, ...(page.data?.items ?? [])].filter(
    (row, i, all) => all.findIndex((r) => r.seq === row.seq) === i,
  );

  return (
    <section>
      <header className="page-head">
        <h1>Events</h1>
        <span className="muted">
          {following
            ? 'live: new events appear at the top'
            : 'not live (older page or status filter)'}
        </span>
      </header>
      <div className="filters">
        <FilterInput
          label="type"
          value={filter.type}
          placeholder="github.* or demo.hello"
          onChange={(v) => setParam('type', v)}
        />
        <FilterInput
          label="key"
          value={filter.key}
          placeholder="partition key"
          onChange={(v) => setParam('key', v)}
        />
        <FilterSelect
          label="run status"
          value={filter.status}
          options={RUN_STATUSES}
          onChange={(value) => setParam('status', value)}
        />
        {filter.q === undefined ? null : (
          <span className="pill">
            search: {filter.q}{' '}
            <button className="link" onClick={() => setParam('q', undefined)}>
              ✕
            </button>
          </span>
        )}
      </div>
      <ErrorNote error={page.error} />
      {fresh.skipped > 0 ? (
        <div className="note">{fresh.skipped} events arrived too fast to list one by one.</div>
      ) : null}
      {page.data === undefined && page.loading ? (
        <Loading />
      ) : rows.length === 0 && filter.q !== undefined ? (
        <Empty title={`No event matches "${filter.q}"`}>
          Search finds an exact event id, type or partition key
          {Object.values(filter).filter((v) => v !== undefined).length > 1
            ? ', within the other filters'
            : ''}
          . For a type pattern such as <code>github.*</code>, use the type filter.
        </Empty>
      ) : rows.length === 0 ? (
        <Empty
          title={
            Object.values(filter).some((v) => v !== undefined) ? 'No events match' : 'No events yet'
          }
        >
          {Object.values(filter).some((v) => v !== undefined) ? (
            'Try a broader filter.'
          ) : (
            <>
              Events show up here as they are stored. Emit one with{' '}
              <code>npx agentd emit demo.hello</code>
            </>
          )}
        </Empty>
      ) : (
        <table className="grid events">
          <thead>
            <tr>
              <th>stored</th>
              <th>type</th>
              <th>id</th>
              <th>key</th>
              <th>runs</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr
                key={row.seq}
                className={fresh.rows.includes(row) ? 'row-new clickable' : 'clickable'}
                onClick={() => navigate(`events/${encodeURIComponent(row.event.id)}`)}
              >
                <td title={dateTime(row.storedAt)}>{clock(row.storedAt)}</td>
                <td className="type">{row.event.type}</td>
                <td>
                  <code title={row.event.id}>{shortId(row.event.id)}</code>
                </td>
                <td>{row.event.partitionkey ?? ''}</td>
                <td>
                  <RunChips runs={withLiveStatus(row, runs)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        cursor={cursor}
        next={page.data?.nextCursor ?? null}
        onNewest={() => navigate('events', filter)}
        onOlder={(next) => navigate('events', { ...filter, cursor: next })}
      />
    </section>
  );
}

function FilterInput(props: {
  label: string;
  value: string | undefined;
  placeholder: string;
  onChange: (value: string) => void;
}) {
  const [draft, setDraft] = useState(props.value ?? '');
  return (
    <label>
      {props.label}
      <input
        value={draft}
        placeholder={props.placeholder}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={() => draft !== (props.value ?? '') && props.onChange(draft.trim())}
        onKeyDown={(e) => e.key === 'Enter' && props.onChange(draft.trim())}
      />
    </label>
  );
}

/** Run statuses from the stream are newer than the page's, and new runs appear under their event. */
function withLiveStatus(row: EventItem, runs: Map<string, RunChange>) {
  const out = row.runs.map((run) => {
    const change = runs.get(run.runId);
    return change === undefined ? run : { ...run, status: change.status };
  });
  for (const change of runs.values())
    if (change.eventId === row.event.id && !out.some((r) => r.runId === change.runId))
      out.push({
        runId: change.runId,
        route: change.route,
        status: change.status,
        attempt: change.attempt,
      });
  return out;
}

function matches(
  item: EventItem,
  filter: { type?: string | undefined; key?: string | undefined; q?: string | undefined },
): boolean {
  const e = item.event;
  if (filter.key !== undefined && e.partitionkey !== filter.key) return false;
  if (
    filter.q !== undefined &&
    e.id !== filter.q &&
    e.type !== filter.q &&
    e.partitionkey !== filter.q
  )
    return false;
  if (filter.type !== undefined) {
    if (!filter.type.includes('*')) return e.type === filter.type;
    const regex = new RegExp(
      `^${filter.type
        .split('.')
        .map((s) => (s === '**' ? '.+' : s === '*' ? '[^.]+' : s.replace(/[-/]/g, '\\$&')))
        .join('\\.')}$`,
    );
    return regex.test(e.type);
  }
  return true;
}
