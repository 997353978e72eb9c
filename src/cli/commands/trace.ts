// agentd trace <event-id>: the tree an event caused — its runs with their steps, and the events
// they emitted, recursively — with status, durations and model tokens.
import type { Command } from 'commander';
import {
  LineageQueries,
  type Lineage,
  type LineageEvent,
  type LineageRun,
} from '../../bus/sqlite/lineage-sql.js';
import {
  duration,
  localTime,
  locateStore,
  openHistoryFile,
  printJson,
  shorten,
  UsageError,
  withStore,
  type StoreOptions,
} from '../cli-support.js';

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description('the tree an event caused: runs, steps and emitted events, with status and timing')
    .argument('<event-id>', 'the id of the event to start from')
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (eventId: string, opts: StoreOptions & { json?: boolean }) => {
      const store = await locateStore(opts);
      const tree = await withStore(openHistoryFile(store, 'agentd trace'), (bus) =>
        new LineageQueries(bus.db).lineage(eventId),
      );
      if (tree === undefined)
        throw new UsageError(`no event with id ${eventId} (see agentd events)`);
      if (opts.json === true) return printJson(tree);
      process.stdout.write(renderLineage(tree));
    });
}

/** The tree as indented lines, like `tree` draws directories. */
export function renderLineage(tree: Lineage): string {
  const lines: string[] = [];
  const event = (node: LineageEvent, prefix: string, label: string) => {
    lines.push(`${label}event ${node.type} ${node.id}  stored ${localTime(node.storedAt)}`);
    const items = [
      ...node.runs.map((run) => ({ kind: 'run' as const, run })),
      ...node.caused.map((child) => ({ kind: 'event' as const, child })),
    ];
    items.forEach((item, i) => {
      const last = i === items.length - 1;
      const branch = `${prefix}${last ? '└─ ' : '├─ '}`;
      const next = `${prefix}${last ? '   ' : '│  '}`;
      if (item.kind === 'run') runLines(item.run, branch, next);
      else event(item.child, next, `${branch}caused `);
    });
  };
  const runLines = (run: LineageRun, branch: string, prefix: string) => {
    const facts = [
      run.status,
      `attempt ${run.attempt}`,
      run.durationMs === null ? '' : duration(run.durationMs),
      run.tokens === undefined
        ? ''
        : `${run.tokens.total} tokens in ${run.tokens.turns} turn${run.tokens.turns === 1 ? '' : 's'}`,
    ].filter((s) => s !== '');
    lines.push(`${branch}run ${run.runId} ${run.route}  ${facts.join(', ')}`);
    const items = [
      ...run.steps.map((step) => ({ kind: 'step' as const, step })),
      ...(run.lastError === null || run.status === 'completed'
        ? []
        : [{ kind: 'error' as const, error: run.lastError }]),
      ...run.emitted.map((child) => ({ kind: 'event' as const, child })),
    ];
    items.forEach((item, i) => {
      const last = i === items.length - 1;
      const itemBranch = `${prefix}${last ? '└─ ' : '├─ '}`;
      const next = `${prefix}${last ? '   ' : '│  '}`;
      if (item.kind === 'step') {
        const took = item.step.tookMs === null ? '' : `  ${duration(item.step.tookMs)}`;
        const tokens = item.step.tokens === undefined ? '' : `  ${item.step.tokens} tokens`;
        lines.push(`${itemBranch}step ${item.step.name}${took}${tokens}`);
      } else if (item.kind === 'error') {
        lines.push(`${itemBranch}error: ${shorten(item.error, 100)}`);
      } else {
        event(item.child, next, `${itemBranch}emitted `);
      }
    });
  };
  event(tree.root, '', '');
  if (tree.truncated)
    lines.push(`(the chain is larger: only the first ${tree.events} events are shown)`);
  return `${lines.join('\n')}\n`;
}
