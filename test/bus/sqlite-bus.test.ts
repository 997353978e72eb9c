import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { busConformance } from './conformance.js';

busConformance({
  name: 'SqliteBus',
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-bus-'));
    const path = join(dir, 'agentd.db');
    let bus = new SqliteBus({ path, sweepIntervalMs: 50 });
    return {
      bus,
      async reopen() {
        await bus.close();
        bus = new SqliteBus({ path, sweepIntervalMs: 50 });
        return bus;
      },
      async destroy() {
        await bus.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
