// The tree an event caused: its runs (with steps), the events those emitted, and so on.
import type { LineageEvent, LineageRun } from '../api';
import { dateTime, duration, shortId } from '../format';
import { Status } from './status';

export function LineageTree({ root }: { root: LineageEvent }) {
  return (
    <ul className="tree">
      <EventNode node={root} label="" />
    </ul>
  );
}

function EventNode({ node, label }: { node: LineageEvent; label: string }) {
  return (
    <li>
      <div className="tree-line">
        {label === '' ? null : <span className="muted">{label} </span>}
        <span className="tree-kind">event</span>{' '}
        <a href={`#/events/${encodeURIComponent(node.id)}`}>{node.type}</a>{' '}
        <code title={node.id}>{shortId(node.id)}</code>{' '}
        <span className="muted">{dateTime(node.storedAt)}</span>
      </div>
      {node.runs.length + node.caused.length === 0 ? null : (
        <ul>
          {node.runs.map((run) => (
            <RunNode key={run.runId} run={run} />
          ))}
          {node.caused.map((child) => (
            <EventNode key={child.id} node={child} label="caused" />
          ))}
        </ul>
      )}
    </li>
  );
}

function RunNode({ run }: { run: LineageRun }) {
  return (
    <li>
      <div className="tree-line">
        <span className="tree-kind">run</span> <a href={`#/runs/${run.runId}`}>{run.route}</a>{' '}
        <Status status={run.status} />{' '}
        <span className="muted">
          attempt {run.attempt}
          {run.durationMs === null ? '' : ` · ${duration(run.durationMs)}`}
          {run.tokens === undefined
            ? ''
            : ` · ${run.tokens.total} tokens in ${run.tokens.turns} turns`}
        </span>
        {run.lastError !== null && run.status !== 'completed' ? (
          <div className="tree-error">{run.lastError}</div>
        ) : null}
      </div>
      {run.steps.length + run.emitted.length === 0 ? null : (
        <ul>
          {run.steps.map((step) => (
            <li key={step.name}>
              <div className="tree-line">
                <span className="tree-kind">step</span> {step.name}{' '}
                <span className="muted">
                  {step.tookMs === null ? '' : duration(step.tookMs)}
                  {step.tokens === undefined ? '' : ` · ${step.tokens} tokens`}
                </span>
              </div>
            </li>
          ))}
          {run.emitted.map((child) => (
            <EventNode key={child.id} node={child} label="emitted" />
          ))}
        </ul>
      )}
    </li>
  );
}
