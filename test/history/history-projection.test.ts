// The history file on its own: events in under their stream sequence, copies (a DLQ replay, a
// resumed run) not counted as events, and retention pruning what the streams drop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { eventMsgId, keyToken, ONLY_HEADER, RESUMES_HEADER } from '../../src/bus/nats/names.js';
import { toEvent } from '../../src/core/envelope.js';
import { HistoryProjection } from '../../src/history/history-projection.js';
import { createLogger } from '../../src/observe/log.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import { eventually } from '../observe/observe-harness.js';

const available = await natsAvailable();

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

const HOUR_MS = 60 * 60_000;

describe.runIf(available)('the NATS history file', () => {
  const stream = uniqueStream('HPRJ');
  const dir = mkdtempSync(join(tmpdir(), 'agentd-history-'));

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropNamespace(NATS_URL, stream);
  });

  it('keeps events by stream sequence, skips copies, and prunes by age', async () => {
    const bus = await NatsBus.connect({ servers: NATS_URL, stream, retentionMs: HOUR_MS });
    const projection = await HistoryProjection.open({
      store: bus.store,
      path: join(dir, 'history.db'),
      retentionMs: HOUR_MS,
      log: createLogger({ level: 'silent' }),
    });
    try {
      const one = toEvent({ type: 'x.one', id: 'one' }, { source: 'test', trust: 'internal' });
      const two = toEvent({ type: 'x.two', id: 'two' }, { source: 'test', trust: 'internal' });
      await bus.publish([one, two]);
      // The same event again, as a DLQ replay and a resumed run publish it.
      for (const header of [ONLY_HEADER, RESUMES_HEADER])
        await bus.store.publisher.publish(
          bus.names.eventSubject(one, keyToken(undefined)),
          JSON.stringify(one),
          `${header}-${eventMsgId(one)}`,
          { [header]: '1' },
        );
      const last = (await bus.store.jsm.streams.info(stream)).state.last_seq;
      await eventually(() => projection.positions().events === last, 30_000);
      const rows = projection.db
        .prepare<[], { seq: number; id: string }>(`SELECT seq, id FROM events ORDER BY seq`)
        .all();
      expect(rows.map((r) => r.id)).toEqual(['one', 'two']);
      expect(rows.map((r) => r.seq)).toEqual([last - 3, last - 2]);

      projection.prune(Date.now());
      expect(projection.db.prepare(`SELECT count(*) AS n FROM events`).get()).toEqual({ n: 2 });
      projection.prune(Date.now() + 2 * HOUR_MS);
      expect(projection.db.prepare(`SELECT count(*) AS n FROM events`).get()).toEqual({ n: 0 });
    } finally {
      await projection.close();
      await bus.close();
    }
  });
});
