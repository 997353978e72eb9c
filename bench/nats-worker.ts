// A bench worker process for bench/nats.ts: a no-op route on the NATS bus, until SIGTERM.
import { startWorkerProcess } from '../src/app-worker.js';
import { validateConfig } from '../src/core/config.js';
import { on } from '../src/core/route.js';
import { createLogger } from '../src/observe/log.js';

const [servers, stream, concurrency, dataDir] = process.argv.slice(2);
if (servers === undefined || stream === undefined || dataDir === undefined)
  throw new Error('usage: nats-worker <servers> <stream> <concurrency> <dataDir>');

const config = validateConfig(
  {
    bus: { kind: 'nats', servers, stream },
    log: { level: 'silent' },
    routes: [
      on(['bench.noop', 'bench.keyed'], {
        name: 'bench',
        concurrency: Number(concurrency ?? 50),
        handler: () => undefined,
      }),
    ],
  },
  'bench/nats-worker',
);
const worker = await startWorkerProcess({
  config,
  dataDir,
  log: createLogger({ level: 'silent' }),
});
process.stdout.write('READY\n');
process.once('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
