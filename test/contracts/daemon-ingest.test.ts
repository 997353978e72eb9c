// Every publish path of a running daemon goes through the contracts: POST /events and a GitHub
// webhook answer 2xx with `quarantined: true` for data that breaks its contract, valid events reach
// their route, and the daemon's own events keep theirs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startDaemon, type Daemon } from '../../src/app.js';
import type { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { validateConfig } from '../../src/core/config.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { defineEventType } from '../../src/core/event-type.js';
import { on } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { fixture, githubHeaders } from '../sources/webhook/webhook-harness.js';

const log = createLogger({ level: 'silent' });
const dirs: string[] = [];
const daemons: Daemon[] = [];

afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const note = defineEventType('ops.note', z.object({ text: z.string() }));

describe('a daemon with contracts', () => {
  it('quarantines bad data from POST /events and webhooks, and delivers the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-ingest-'));
    dirs.push(dir);
    const seen: AgentdEvent[] = [];
    const daemon = await startDaemon({
      config: validateConfig(
        {
          server: { auth: false },
          types: [note],
          sources: [{ kind: 'github', secret: 'webhook-secret' }],
          routes: [on(['ops.note', 'github.**'], { handler: (e) => void seen.push(e) })],
        },
        'test',
      ),
      dataDir: dir,
      log,
      port: 0,
    });
    daemons.push(daemon);

    const post = (data: unknown) =>
      fetch(`${daemon.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'ops.note', data }),
      });
    const bad = await post({ text: 42 });
    expect(bad.status).toBe(202);
    expect(await bad.json()).toMatchObject({ accepted: [{ quarantined: true }] });
    expect((await post({ text: 'deploy done' })).status).toBe(202);

    const hook = (body: string, delivery: string) =>
      fetch(`${daemon.url}/hooks/github`, {
        method: 'POST',
        headers: githubHeaders(body, 'webhook-secret', 'pull_request', delivery),
        body,
      });
    const good = fixture('github/pull_request.opened.json');
    expect((await hook(good, 'gh-1')).status).toBe(202);
    const payload = JSON.parse(good) as { pull_request: Record<string, unknown> };
    delete payload.pull_request.head;
    const broken = await hook(JSON.stringify(payload), 'gh-2');
    expect(broken.status).toBe(202);
    expect(await broken.json()).toMatchObject({ accepted: [{ id: 'gh-2', quarantined: true }] });

    const quarantine = (daemon.bus as SqliteBus).quarantine;
    const entries = await quarantine.list();
    expect(entries.map((q) => [q.event.type, q.issues[0]?.path])).toEqual([
      ['github.pull_request.opened', 'pull_request.head'],
      ['ops.note', 'text'],
    ]);
    const deadline = Date.now() + 5_000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((e) => `${e.type} ${e.dataschema}`).sort()).toEqual([
      'github.pull_request.opened agentd:github.pull_request.opened/v1',
      'ops.note agentd:ops.note/v1',
    ]);
    // agentd.daemon.started kept its own contract: nothing else was quarantined.
    expect(await quarantine.count()).toBe(2);
  });
});
