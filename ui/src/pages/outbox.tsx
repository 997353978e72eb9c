// The outbox: what handlers asked to send (comments, messages, posts, events), by state. Actions
// waiting for an operator are approved or rejected here; dead ones are retried; each one shows
// what its sink answered, or every attempt's error.
import { FilterSelect } from '../components/filter-select';
import { Fragment, useEffect, useState } from 'react';
import { ACTION_STATES, api, ApiError, query, type OutboxAction } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { JsonView } from '../components/json-view';
import { Status } from '../components/status';
import { dateTime, shortId } from '../format';
import { useLive } from '../live';
import { navigate, type Location } from '../router';
import { useFetch } from '../use-fetch';

/** The API lists the newest actions first, without paging: this many at most. */
const LIMIT = 200;
const SINKS = ['github', 'slack', 'http', 'bus'];

export function OutboxPage({ location, canWrite }: { location: Location; canWrite: boolean }) {
  const p = location.params;
  const filter = {
    state: p.get('state') ?? undefined,
    sink: p.get('sink') ?? undefined,
    route: p.get('route') ?? undefined,
  };
  const list = useFetch(JSON.stringify(filter), () =>
    api.get<OutboxAction[]>(`/outbox${query({ ...filter, limit: String(LIMIT) })}`),
  );
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [result, setResult] = useState<{ message?: string; error?: unknown }>({});
  // Runs record actions with their ack, and the dispatcher sends them a moment later.
  useLive({ onRuns: () => list.reload() });
  useEffect(() => {
    const timer = setInterval(list.reload, 2_000);
    return () => clearInterval(timer);
  }, [list.reload]);

  const act = async (what: () => Promise<unknown>, message: string) => {
    try {
      await what();
      setResult({ message });
      list.reload();
    } catch (error) {
      setResult({ error });
    }
  };
  const approve = (a: OutboxAction) =>
    act(() => api.post(`/outbox/${a.id}/approve`, { by: 'dashboard' }), `Approved ${label(a)}.`);
  const reject = (a: OutboxAction) => {
    const reason = window.prompt(`Reject ${label(a)}? It will never be sent. Why:`);
    if (reason === null) return;
    void act(
      () =>
        api.post(`/outbox/${a.id}/reject`, {
          by: 'dashboard',
          ...(reason.trim() === '' ? {} : { reason: reason.trim() }),
        }),
      `Rejected ${label(a)}.`,
    );
  };
  const retry = (a: OutboxAction) =>
    act(() => api.post(`/outbox/${a.id}/retry`), `${label(a)} is due again.`);
  const set = (name: string, value: string) => {
    setResult({});
    navigate('outbox', { ...filter, [name]: value });
  };
  const why = canWrite ? '' : 'the read-only token cannot change the outbox';

  if (list.error instanceof ApiError && list.error.status === 404)
    return (
      <section>
        <h1>Outbox</h1>
        <Empty title="This daemon keeps no outbox">
          The outbox runs on the embedded SQLite bus; with bus.kind "nats" use agentd outbox.
        </Empty>
      </section>
    );
  const items = list.data ?? [];
  return (
    <section>
      <header className="page-head">
        <h1>Outbox</h1>
        <span className="muted">what handlers asked to send, sent once their run succeeded</span>
      </header>
      <div className="filters">
        <FilterSelect
          label="state"
          value={filter.state}
          options={ACTION_STATES}
          onChange={(value) => set('state', value)}
        />
        <FilterSelect
          label="sink"
          value={filter.sink}
          options={SINKS}
          onChange={(value) => set('sink', value)}
        />
        <label>
          route
          <input
            aria-label="route"
            placeholder="any"
            defaultValue={filter.route ?? ''}
            onKeyDown={(e) => {
              if (e.key === 'Enter') set('route', e.currentTarget.value.trim());
            }}
          />
        </label>
      </div>
      {result.message === undefined ? null : <div className="note">{result.message}</div>}
      <ErrorNote error={result.error ?? list.error} />
      {list.data === undefined ? (
        list.loading ? (
          <Loading />
        ) : null
      ) : items.length === 0 ? (
        <Empty
          title={filter.state === undefined ? 'The outbox is empty' : `No ${filter.state} actions`}
        >
          Handlers record actions with ctx.outbox (a GitHub comment, a Slack message, an HTTP post);
          each is sent once its run succeeds, and waits here first when it needs an approval.
        </Empty>
      ) : (
        <table className="grid outbox">
          <thead>
            <tr>
              <th>id</th>
              <th>action</th>
              <th>state</th>
              <th>route · run</th>
              <th>caused by</th>
              <th className="num">attempts</th>
              <th>updated</th>
              <th>outcome</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((a) => (
              <Fragment key={a.id}>
                <tr className="clickable" onClick={() => setOpen(open === a.id ? undefined : a.id)}>
                  <td>{a.id}</td>
                  <td>
                    <code>
                      {a.sink}.{a.action}
                    </code>
                  </td>
                  <td>
                    <Status status={a.state} />
                  </td>
                  <td>
                    {a.route} ·{' '}
                    <a href={`#/runs/${a.runId}`} onClick={(e) => e.stopPropagation()}>
                      run {a.runId}
                    </a>
                  </td>
                  <td>
                    <a
                      href={`#/events/${encodeURIComponent(a.cause.id)}`}
                      onClick={(e) => e.stopPropagation()}
                    >
                      {a.cause.type} <code title={a.cause.id}>{shortId(a.cause.id)}</code>
                    </a>
                  </td>
                  <td className="num">{a.attempt}</td>
                  <td>{dateTime(a.updatedAt)}</td>
                  <td className={a.state === 'dead' ? 'error-cell' : 'outcome-cell'}>
                    {outcome(a)}
                  </td>
                  <td onClick={(e) => e.stopPropagation()}>
                    <Buttons
                      action={a}
                      canWrite={canWrite}
                      why={why}
                      approve={() => void approve(a)}
                      reject={() => reject(a)}
                      retry={() => void retry(a)}
                    />
                  </td>
                </tr>
                {open === a.id ? (
                  <tr className="detail">
                    <td colSpan={9}>
                      <Detail action={a} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      {items.length === LIMIT ? (
        <p className="muted">Showing the newest {LIMIT}: narrow the filters to see older ones.</p>
      ) : null}
    </section>
  );
}

function Buttons(props: {
  action: OutboxAction;
  canWrite: boolean;
  why: string;
  approve: () => void;
  reject: () => void;
  retry: () => void;
}) {
  const { action, canWrite, why } = props;
  if (action.state === 'pending-approval')
    return (
      <span className="row-buttons">
        <button className="small primary" disabled={!canWrite} title={why} onClick={props.approve}>
          Approve
        </button>
        <button className="small danger" disabled={!canWrite} title={why} onClick={props.reject}>
          Reject
        </button>
      </span>
    );
  if (action.state === 'dead')
    return (
      <button className="small" disabled={!canWrite} title={why} onClick={props.retry}>
        Retry
      </button>
    );
  return null;
}

/** One line on what became of the action. */
function outcome(a: OutboxAction): string {
  switch (a.state) {
    case 'done':
      return summary(a.result);
    case 'pending-approval':
      return a.expiresAt === undefined
        ? 'waiting for approval'
        : `waiting for approval until ${dateTime(new Date(a.expiresAt).toISOString())}`;
    case 'pending':
      return a.errors.length === 0
        ? 'due'
        : `retry at ${dateTime(new Date(a.availableAt).toISOString())}: ${a.errors.at(-1)?.error ?? ''}`;
    case 'sending':
      return 'being sent';
    case 'dry-run':
      return 'recorded, not sent (dry run)';
    default:
      return [a.reason, a.decidedBy === null ? null : `by ${a.decidedBy}`]
        .filter((part) => part !== null)
        .join(' ');
  }
}

/** What a sink answered, briefly: a URL when it gave one, else its fields. */
function summary(result: unknown): string {
  if (result === undefined || result === null) return 'sent';
  if (typeof result !== 'object') return JSON.stringify(result);
  const fields = result as Record<string, unknown>;
  const url = fields.url ?? fields.htmlUrl ?? fields.permalink;
  if (typeof url === 'string') return url;
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(' · ');
}

function Detail({ action: a }: { action: OutboxAction }) {
  return (
    <div className="outbox-detail">
      <dl className="facts">
        <div>
          <dt>recorded</dt>
          <dd>{dateTime(a.createdAt)}</dd>
        </div>
        <div>
          <dt>finished</dt>
          <dd>{dateTime(a.finishedAt) || '—'}</dd>
        </div>
        <div>
          <dt>mode</dt>
          <dd>{a.mode}</dd>
        </div>
        <div>
          <dt>idempotency key</dt>
          <dd>
            <code>{a.key}</code>
          </dd>
        </div>
        {a.decidedBy === null ? null : (
          <div>
            <dt>decided by</dt>
            <dd>{a.decidedBy}</dd>
          </div>
        )}
      </dl>
      <h3>Parameters</h3>
      <JsonView value={a.params} fold={16} />
      {a.result === null || a.result === undefined ? null : (
        <>
          <h3>What the sink answered</h3>
          <JsonView value={a.result} fold={16} />
        </>
      )}
      {a.errors.length === 0 ? null : (
        <>
          <h3>Errors</h3>
          <ol className="errors">
            {a.errors.map((e) => (
              <li key={`${e.attempt}-${e.at}`}>
                <span className="muted">
                  attempt {e.attempt} · {dateTime(e.at)}
                  {e.status === undefined ? '' : ` · HTTP ${e.status}`}
                </span>
                <pre className="error-text">{e.error}</pre>
                {e.body === undefined ? null : <pre className="response-body">{e.body}</pre>}
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}

function label(a: OutboxAction): string {
  return `${a.sink}.${a.action} ${a.id}`;
}
