// Publishing run history never holds up or fails a run: with no history stream to capture the
// changes, and with a connection that refuses every publish, routes run and settle as before.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { workerOptions } from '../../src/app-worker.js';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { validateConfig } from '../../src/core/config.js';
import { toEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { RunHistoryPublisher } from '../../src/history/run-history-publisher.js';
import { DaemonObserver } from '../../src/observe/run-observer.js';
import { createWorker } from '../../src/runtime/worker.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import { eventually } from '../observe/observe-harness.js';

const available = await natsAvailable();

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

describe.runIf(available)('run history publishing', () => {
  const streams: string[] = [];

  afterAll(async () => {
    for (const stream of streams) await dropNamespace(NATS_URL, stream);
  });

  // Unreachable: a closed connection throws on every publish. Missing: the connection is fine but
  // no stream captures the subject, so NATS drops each change without a word.
  it.each(['unreachable', 'missing'] as const)(
    'lets runs complete and retry when the history is %s',
    async (how) => {
      const stream = uniqueStream('HPUB');
      streams.push(stream);
      const handled: string[] = [];
      const config = validateConfig(
        {
          bus: { kind: 'nats', servers: NATS_URL, stream },
          routes: [
            on('p.ok', { name: 'ok', handler: (event) => void handled.push(event.id) }),
            on('p.flaky', {
              name: 'flaky',
              retries: { maxAttempts: 3, initialMs: 10, maxMs: 10 },
              handler: (event, ctx) => {
                handled.push(`${event.id}#${ctx.run.attempt}`);
                if (ctx.run.attempt < 2) throw new Error('first attempt fails');
              },
            }),
          ],
        },
        'test',
      );
      const lines: string[] = [];
      const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
      const bus = await NatsBus.connect({ servers: NATS_URL, stream, retentionMs: 60 * 60_000 });
      // The bus makes the history stream with the others; gone (deleted by hand), nothing keeps
      // the changes.
      if (how === 'missing') await bus.store.jsm.streams.delete(bus.names.historyStream);
      // A connection that is closed: every publish on it throws.
      const closed = await connect({ servers: NATS_URL });
      await closed.close();
      const publisher = new RunHistoryPublisher(
        how === 'unreachable' ? closed : bus.store.nc,
        bus.names,
        log,
      );
      const worker = createWorker({
        ...workerOptions(config, bus, log, 'agentd://test'),
        observer: new DaemonObserver({ history: publisher }),
      });
      try {
        await worker.start();
        await bus.publish([
          toEvent({ type: 'p.ok', id: 'a' }, { source: 'test', trust: 'internal' }),
          toEvent({ type: 'p.flaky', id: 'b' }, { source: 'test', trust: 'internal' }),
        ]);
        await eventually(() => handled.includes('a') && handled.includes('b#2'), 30_000);
        await eventually(async () => (await bus.backlogs()).get('flaky') === 0, 30_000);
        expect(handled.filter((h) => h.startsWith('b'))).toEqual(['b#1', 'b#2']);
        // A failed publish is reported once (not per change), with the run it was about.
        const warnings = lines.filter((line) => line.includes('run history changes'));
        expect(warnings).toHaveLength(how === 'unreachable' ? 1 : 0);
        if (how === 'unreachable')
          expect(['ok', 'flaky']).toContain(
            (JSON.parse(warnings[0]!) as { route?: unknown }).route,
          );
      } finally {
        await worker.stop();
        await bus.close();
      }
      if (how === 'missing') {
        // Still gone: no worker made it again on the way.
        const nc = await connect({ servers: NATS_URL });
        const jsm = await jetstreamManager(nc);
        await expect(jsm.streams.info(`${stream}_HISTORY`)).rejects.toThrow();
        await nc.close();
      }
    },
  );
});
