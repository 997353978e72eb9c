// The OTLP export thread: receives batches of delivery records (delivery-codec.ts) from the run
// path, makes the spans of each and sends them to the collector, so that encoding and HTTP run
// beside the event loop rather than on it. Started by otlp-thread-client.ts, never imported.
import { parentPort, workerData } from 'node:worker_threads';
import { readRecords, routeNames } from './delivery-codec.js';
import type { OtlpThreadData, ToThread } from './otlp-thread-client.js';
import { Tracing } from './tracing.js';

const data = workerData as OtlpThreadData;
const port = parentPort;
if (port === null) throw new Error('otlp-thread.ts runs as a worker thread only');
const tracing = Tracing.otlp({ ...data.otlp, thread: false }, data.node, (error) =>
  port.postMessage({ kind: 'error', message: error.message }),
);
// Records carry the run path's performance.now() times: the same instants on this thread's clock.
const shiftMs = data.originMs - performance.timeOrigin;
const names = routeNames();

port.on('message', (message: ToThread) => {
  switch (message.kind) {
    case 'records': {
      const bytes = Buffer.from(message.buffer, 0, message.length);
      readRecords(bytes, shiftMs, names, (record) => tracing.endDelivery(record));
      // The buffer goes back to be written again.
      port.postMessage({ kind: 'spare', buffer: message.buffer }, [message.buffer]);
      return;
    }
    case 'flush':
    case 'shutdown':
      void (message.kind === 'flush' ? tracing.flush() : tracing.shutdown()).finally(() =>
        port.postMessage({ kind: 'done', id: message.id }),
      );
  }
});
