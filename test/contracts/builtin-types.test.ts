// The built-in registry: every example keeps its own contract, the sources stamp dataschemas the
// registry knows, and the generated reference page and the released snapshot are up to date.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXEC_DATASCHEMA } from '../../src/cli/commands/exec.js';
import {
  builtinSections,
  builtinTypes,
  eventTypes,
} from '../../src/contracts/builtin/builtin-types.js';
import { checkCompatibility, parseSnapshot } from '../../src/contracts/compatibility.js';
import { registryFor } from '../../src/contracts/config-contracts.js';
import { renderReference } from '../../src/contracts/reference-doc.js';
import { SCHEDULE_DATASCHEMA } from '../../src/sources/cron/cron-source.js';
import { FS_CHANGED_DATASCHEMA } from '../../src/sources/fs/fs-source.js';
import { PROCESS_EXITED_DATASCHEMA } from '../../src/sources/process/process-source.js';
import { slackEvent } from '../../src/sources/webhook/slack/slack-event.js';
import { ContractGate } from '../../src/contracts/contract-gate.js';
import { isRefusal } from '../../src/core/ingest-gate.js';

const registry = registryFor({});
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('built-in event types', () => {
  it('each have an example that keeps their contract', () => {
    for (const type of builtinTypes()) {
      const { example, schema } = type.versions[0]!;
      expect(example, type.name).toBeDefined();
      const result = schema.safeParse(example);
      expect(result.success, `${type.name}: ${result.error?.message}`).toBe(true);
    }
  });

  it('cover the dataschemas agentd sources and commands stamp on their events', () => {
    for (const dataschema of [
      SCHEDULE_DATASCHEMA,
      FS_CHANGED_DATASCHEMA,
      PROCESS_EXITED_DATASCHEMA,
      EXEC_DATASCHEMA,
      'agentd:agentd.run.completed/v1',
      'agentd:agentd.run.failed/v1',
      'agentd:agentd.dlq.added/v1',
    ])
      expect(registry.resolve(dataschema), dataschema).toBeDefined();
    expect(registry.forType('schedule.nightly')?.name).toBe('schedule');
    expect(registry.forType('build.failed')?.name).toBe('exec');
  });

  it('admit the Slack callback in the test fixtures as the slack source publishes it', () => {
    const payload = JSON.parse(
      read('test/fixtures/slack/event_callback.app_mention.json'),
    ) as Record<string, unknown>;
    const event = slackEvent({ sourceName: 'slack', payload });
    expect(isRefusal(new ContractGate(registry).admit(event))).toBe(false);
  });

  it('have typed handles, one per type', () => {
    expect(eventTypes.githubPullRequestOpened.v1.dataschema).toBe(
      'agentd:github.pull_request.opened/v1',
    );
    expect(Object.keys(eventTypes)).toHaveLength(builtinTypes().length);
  });

  it('are listed in docs/event-types.md as npm run docs:types generates it', () => {
    expect(read('docs/event-types.md')).toBe(renderReference(builtinSections));
  });

  it('have no breaking change against the released snapshot in schemas/snapshot.json', () => {
    const report = checkCompatibility(
      parseSnapshot(read('schemas/snapshot.json'), 'snapshot'),
      registry,
    );
    expect(report.breaking).toEqual([]);
  });
});
