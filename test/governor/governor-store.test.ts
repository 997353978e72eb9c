// The GovernorStore contract (governor-store-contract.ts), run against the SQLite store (in the
// bus's database, surviving a reopen) and the in-memory one; nats-governor-store.test.ts runs it
// against the NATS store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { MemoryGovernorStore } from '../../src/governor/governor-store.js';
import { SqliteGovernorStore } from '../../src/governor/sqlite-governor-store.js';
import { governorStoreContract, type StoreHandle } from './governor-store-contract.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const kinds: [string, () => Promise<StoreHandle>][] = [
  [
    'SqliteGovernorStore',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'agentd-governor-'));
      const path = join(dir, 'agentd.db');
      let bus = new SqliteBus({ path });
      cleanups.push(async () => {
        await bus.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return {
        store: await SqliteGovernorStore.open(bus),
        async reopen() {
          await bus.close();
          bus = new SqliteBus({ path });
          return SqliteGovernorStore.open(bus);
        },
      };
    },
  ],
  ['MemoryGovernorStore', async () => ({ store: new MemoryGovernorStore() })],
];

for (const [name, fresh] of kinds) governorStoreContract(name, fresh);
