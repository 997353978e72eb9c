// One event: its envelope, its runs (kept current from the live stream) and the tree it caused.
import { api, type EventItem, type Lineage } from '../api';
import { Empty, ErrorNote, Loading } from '../components/empty';
import { JsonView } from '../components/json-view';
import { LineageTree } from '../components/lineage-tree';
import { Status } from '../components/status';
import { dateTime } from '../format';
import { useLive } from '../live';
import { useFetch } from '../use-fetch';

export function EventPage({ id }: { id: string }) {
  const path = `/events/${encodeURIComponent(id)}`;
  const event = useFetch(path, () => api.get<EventItem>(path));
  const lineage = useFetch(`${path}/lineage`, () => api.get<Lineage>(`${path}/lineage`));
  useLive({
    onRuns(changes) {
      const ours = changes.some((c) => c.eventId === id);
      const inTree =
        lineage.data !== undefined && changes.some((c) => treeHas(lineage.data, c.eventId));
      if (ours) event.reload();
      if (ours || inTree) lineage.reload();
    },
    onEvents(events) {
      if (
        events.some(
          (e) => e.event.causationid !== undefined && treeHas(lineage.data, e.event.causationid),
        )
      )
        lineage.reload();
    },
  });

  if (event.data === undefined) {
    if (event.loading) return <Loading />;
    return (
      <section>
        <h1>Event</h1>
        <Empty title={`No event with id ${id}`}>
          It may have passed its retention, or the id is mistyped.
        </Empty>
        <ErrorNote error={event.error} />
      </section>
    );
  }
  const e = event.data.event;
  const facts: [string, string | undefined][] = [
    ['source', e.source],
    ['time', dateTime(e.time)],
    ['stored', dateTime(event.data.storedAt)],
    ['subject', e.subject],
    ['partition key', e.partitionkey],
    ['trust', e.trust],
    ['depth', String(e.depth)],
    ['origin', e.origin],
    ['correlation', e.correlationid],
    ['traceparent', e.traceparent],
  ];
  return (
    <section>
      <header className="page-head">
        <h1>
          <span className="muted">event</span> {e.type}
        </h1>
        <code>{e.id}</code>
      </header>
      <dl className="facts">
        {facts
          .filter((f): f is [string, string] => f[1] !== undefined)
          .map(([name, value]) => (
            <div key={name}>
              <dt>{name}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        {e.causationid === undefined ? null : (
          <div>
            <dt>caused by</dt>
            <dd>
              <a href={`#/events/${encodeURIComponent(e.causationid)}`}>{e.causationid}</a>
            </dd>
          </div>
        )}
      </dl>
      <h2>Runs</h2>
      {event.data.runs.length === 0 ? (
        <Empty title="No route handles this type">
          Events without a matching route are stored and kept for lineage.
        </Empty>
      ) : (
        <table className="grid">
          <thead>
            <tr>
              <th>run</th>
              <th>route</th>
              <th>status</th>
              <th>attempt</th>
            </tr>
          </thead>
          <tbody>
            {event.data.runs.map((run) => (
              <tr key={run.runId}>
                <td>
                  <a href={`#/runs/${run.runId}`}>{run.runId}</a>
                </td>
                <td>{run.route}</td>
                <td>
                  <Status status={run.status} />
                </td>
                <td>{run.attempt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Lineage</h2>
      {lineage.data === undefined ? (
        <ErrorNote error={lineage.error} />
      ) : (
        <>
          <LineageTree root={lineage.data.root} />
          {lineage.data.truncated ? (
            <div className="note">The chain is larger: only part of it is shown.</div>
          ) : null}
        </>
      )}
      <h2>Data</h2>
      <JsonView value={e.data} />
    </section>
  );
}

function treeHas(tree: Lineage | undefined, eventId: string): boolean {
  if (tree === undefined) return false;
  const walk = (node: Lineage['root']): boolean =>
    node.id === eventId || node.caused.some(walk) || node.runs.some((r) => r.emitted.some(walk));
  return walk(tree.root);
}
