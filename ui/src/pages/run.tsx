// One run: status, timing, every attempt's error, its steps (model turns shown as a conversation),
// what it waits for while parked, and replay when it is dead.
import { useState } from 'react';
import { api, type RunDetail } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { JsonView } from '../components/json-view';
import { Status } from '../components/status';
import { dateTime, duration } from '../format';
import { useLive } from '../live';
import { useFetch } from '../use-fetch';

export function RunPage({ id, canWrite }: { id: string; canWrite: boolean }) {
  const run = useFetch(`/runs/${id}`, () => api.get<RunDetail>(`/runs/${id}`));
  const [action, setAction] = useState<{ message?: string; error?: unknown }>({});
  useLive({
    onRuns(changes) {
      if (changes.some((c) => c.runId === id || c.eventId === run.data?.eventId)) run.reload();
    },
  });
  if (run.data === undefined) {
    if (run.loading) return <Loading />;
    return (
      <section>
        <h1>Run {id}</h1>
        <Empty title={`No run with id ${id}`} />
        <ErrorNote error={run.error} />
      </section>
    );
  }
  const r = run.data;
  const replay = async (fresh: boolean) => {
    try {
      await api.post(`/dlq/${r.runId}/replay`, { fresh });
      setAction({
        message: 'Replayed: a new run of this event is queued (see the event for its progress).',
      });
      run.reload();
    } catch (error) {
      setAction({ error });
    }
  };
  return (
    <section>
      <header className="page-head">
        <h1>
          <span className="muted">run</span> {r.runId} <span className="muted">·</span> {r.route}
        </h1>
        <Status status={r.status} />
      </header>
      <dl className="facts">
        <div>
          <dt>event</dt>
          <dd>
            <a href={`#/events/${encodeURIComponent(r.eventId)}`}>
              {r.eventType} {r.eventId}
            </a>
          </dd>
        </div>
        <div>
          <dt>attempt</dt>
          <dd>{r.attempt}</dd>
        </div>
        <div>
          <dt>queued</dt>
          <dd>{dateTime(r.createdAt)}</dd>
        </div>
        <div>
          <dt>started</dt>
          <dd>{dateTime(r.startedAt)}</dd>
        </div>
        <div>
          <dt>finished</dt>
          <dd>{dateTime(r.finishedAt)}</dd>
        </div>
        <div>
          <dt>took</dt>
          <dd>{duration(r.durationMs)}</dd>
        </div>
        {r.partitionkey === null ? null : (
          <div>
            <dt>partition key</dt>
            <dd>{r.partitionkey}</dd>
          </div>
        )}
      </dl>
      {r.status === 'waiting' ? <WaitCallout run={r} /> : null}
      {r.status === 'cancelled' && r.reason !== undefined ? (
        <div className="callout callout-idle">
          <strong>Cancelled:</strong> {r.reason}
        </div>
      ) : null}
      {r.status === 'dead' ? (
        <div className="callout callout-dead">
          <div>
            <strong>Dead-lettered:</strong> <span className="dead-reason">{r.deadReason}</span>
          </div>
          <div className="actions">
            <button
              className="primary"
              disabled={!canWrite}
              title={canWrite ? '' : 'the read-only token cannot replay'}
              onClick={() => void replay(false)}
            >
              Replay
            </button>
            <button
              disabled={!canWrite}
              onClick={() => void replay(true)}
              title="forget memoized steps: start over"
            >
              Replay fresh
            </button>
          </div>
        </div>
      ) : null}
      {action.message === undefined ? null : <div className="note">{action.message}</div>}
      <ErrorNote error={action.error} />
      <h2>Errors</h2>
      {r.errors.length === 0 ? (
        <p className="muted">No attempt of this run failed.</p>
      ) : (
        <ol className="errors">
          {r.errors.map((e) => (
            <li key={`${e.attempt}-${e.at}`}>
              <span className="muted">
                attempt {e.attempt} · {dateTime(e.at)}
              </span>
              <pre className="error-text">{e.error}</pre>
            </li>
          ))}
        </ol>
      )}
      <h2>Steps</h2>
      {r.steps.length === 0 ? (
        <p className="muted">This run recorded no steps (ctx.step).</p>
      ) : (
        <ol className="steps">
          {r.steps.map((step) => (
            <li key={step.name}>
              <div className="step-head">
                <strong>{step.name}</strong> <span className="muted">{dateTime(step.at)}</span>
              </div>
              {isModelTurn(step.value) ? (
                <ModelTurn turn={step.value} />
              ) : (
                <JsonView value={step.value} fold={12} />
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** A parked run holds no worker slot: it resumes when its event comes, or at its deadline. */
function WaitCallout({ run }: { run: RunDetail }) {
  const wait = run.wait;
  return (
    <div className="callout callout-wait">
      <div>
        <strong>Waiting</strong>{' '}
        {wait === undefined ? (
          'for an event (ctx.waitForEvent).'
        ) : (
          <>
            {wait.step === `wait:${wait.type}` ? null : (
              <>
                at step <code>{wait.step}</code>{' '}
              </>
            )}
            for a <code>{wait.type}</code> event
            {wait.match === null ? '' : ' matching '}
            {wait.match === null ? null : <code>{JSON.stringify(wait.match)}</code>}, since{' '}
            {dateTime(wait.since)};{' '}
            {wait.deadline === null
              ? 'no deadline.'
              : `resumes without one at ${dateTime(wait.deadline)}.`}
          </>
        )}
        <div className="muted">It holds no worker slot while it waits.</div>
      </div>
    </div>
  );
}

interface Turn {
  content: { type: string; text?: string; name?: string; input?: unknown }[];
  stopReason?: string;
  usage: { inputTokens?: number; outputTokens?: number };
}

function isModelTurn(value: unknown): value is Turn {
  const v = value as Partial<Turn> | null;
  return (
    typeof v === 'object' && v !== null && Array.isArray(v.content) && typeof v.usage === 'object'
  );
}

function ModelTurn({ turn }: { turn: Turn }) {
  return (
    <div className="turn">
      <div className="muted">
        model turn · {turn.usage.inputTokens ?? 0} in / {turn.usage.outputTokens ?? 0} out tokens
        {turn.stopReason === undefined ? '' : ` · ${turn.stopReason}`}
      </div>
      {turn.content.map((block, i) =>
        block.type === 'text' ? (
          <p key={i} className="turn-text">
            {block.text}
          </p>
        ) : block.type === 'tool_use' ? (
          <div key={i} className="turn-tool">
            calls <code>{block.name}</code>
            <JsonView value={block.input} fold={8} />
          </div>
        ) : (
          <JsonView key={i} value={block} fold={8} />
        ),
      )}
    </div>
  );
}
