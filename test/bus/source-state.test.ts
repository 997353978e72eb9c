// Source state on every store: values survive reopening, sources and keys stay apart, and any
// source name or key works (NATS KV keys allow few characters).
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { NatsSourceState } from '../../src/bus/nats/nats-source-state.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { SqliteSourceState } from '../../src/bus/sqlite/source-state-sql.js';
import type { SourceStateStore } from '../../src/core/source-state.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

interface Opened {
  state: SourceStateStore;
  close(): Promise<void>;
}

interface StoreUnderTest {
  /** Opens the same store again (a restart). */
  open(): Promise<Opened>;
  destroy(): Promise<void>;
}

function sourceStateConformance(name: string, fresh: () => Promise<StoreUnderTest>) {
  describe(`source state: ${name}`, () => {
    it('keeps values across a restart, separately per source and key', async () => {
      const store = await fresh();
      try {
        const first = await store.open();
        expect(await first.state.get('nightly', 'cursor')).toBeUndefined();
        await first.state.set('nightly', 'cursor', '{"through":"2026-01-01T00:00:00.000Z"}');
        await first.state.set('hourly', 'cursor', 'h');
        await first.state.set('nightly', 'other', 'o');
        await first.state.set('nightly', 'cursor', '{"through":"2026-01-02T00:00:00.000Z"}');
        await first.close();

        const second = await store.open();
        expect(await second.state.get('nightly', 'cursor')).toBe(
          '{"through":"2026-01-02T00:00:00.000Z"}',
        );
        expect(await second.state.get('hourly', 'cursor')).toBe('h');
        expect(await second.state.get('nightly', 'other')).toBe('o');
        expect(await second.state.get('weekly', 'cursor')).toBeUndefined();
        await second.close();
      } finally {
        await store.destroy();
      }
    });

    it('takes any characters in source names, keys and values', async () => {
      const store = await fresh();
      try {
        const opened = await store.open();
        const odd = ['a.b', 'a/b', 'a b', 'ä*>', ''];
        for (const [i, key] of odd.entries()) await opened.state.set(`src ${key}`, key, `v${i} ✓`);
        for (const [i, key] of odd.entries())
          expect(await opened.state.get(`src ${key}`, key)).toBe(`v${i} ✓`);
        await opened.close();
      } finally {
        await store.destroy();
      }
    });
  });
}

sourceStateConformance('SqliteSourceState', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-state-'));
  const path = join(dir, 'agentd.db');
  return {
    async open() {
      const bus = new SqliteBus({ path });
      return { state: new SqliteSourceState(bus), close: () => bus.close() };
    },
    async destroy() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('source state: SqliteSourceState on a store from before it existed', () => {
  it('creates its table in an existing database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-state-'));
    try {
      const path = join(dir, 'agentd.db');
      const old = new SqliteBus({ path });
      old.db.exec('DROP TABLE source_state');
      await old.close();
      const bus = new SqliteBus({ path });
      const state = new SqliteSourceState(bus);
      await state.set('nightly', 'cursor', 'x');
      expect(await state.get('nightly', 'cursor')).toBe('x');
      await bus.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

if (await natsAvailable()) {
  sourceStateConformance('NatsSourceState', async () => {
    const stream = uniqueStream('SS');
    return {
      async open() {
        const bus = await NatsBus.connect({ servers: NATS_URL, stream, retentionMs: 60 * 60_000 });
        return { state: await NatsSourceState.open(bus.store), close: () => bus.close() };
      },
      async destroy() {
        await dropNamespace(NATS_URL, stream);
        const nc = await connect({ servers: NATS_URL, reconnect: false });
        try {
          await (
            await jetstreamManager(nc)
          ).streams
            .delete(`KV_${stream}_sources`)
            .catch(() => false);
        } finally {
          await nc.close();
        }
      },
    };
  });
} else {
  describe('source state: NatsSourceState', () => {
    it.skip(`skipped: NATS not reachable at ${NATS_URL}`, () => {});
  });
}
