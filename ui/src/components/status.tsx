// Run statuses as coloured badges: the same colour for a status everywhere on the dashboard.
import type { RunStatus } from '../api';

export function Status({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status}</span>;
}

export function RunChips({
  runs,
}: {
  runs: { runId: string; route: string; status: RunStatus }[];
}) {
  if (runs.length === 0) return <span className="muted">no route</span>;
  return (
    <span className="chips">
      {runs.map((run) => (
        <a
          key={run.runId}
          className={`chip status-${run.status}`}
          href={`#/runs/${run.runId}`}
          title={`run ${run.runId}: ${run.status}`}
          onClick={(e) => e.stopPropagation()}
        >
          {run.route} · {run.status}
        </a>
      ))}
    </span>
  );
}
