// The run path's side of the OTLP export thread (otlp-thread.ts): each traced delivery, once
// settled, is written into a batch buffer as a record (delivery-codec.ts), a few hundred bytes with
// no objects made, and the full buffers are handed (transferred, not copied) to the thread, which
// makes the spans, encodes them and sends them. Buffers come back to be written again. If the
// thread falls behind, records are dropped (and said so) rather than memory growing; if it dies,
// add() says no and the caller exports on the event loop as before.
import { Worker } from 'node:worker_threads';
import { maxRecordBytes, writeRecord } from './delivery-codec.js';
import type { DeliveryRecord } from './delivery-record.js';
import type { OtlpProtocol } from './otlp-body.js';

/** One batch: records are handed over when it is full, or BATCH_DELAY_MS after its first. */
const BATCH_BYTES = 64 * 1_024;
const BATCH_DELAY_MS = 50;
/** Batches handed over and not yet read: past this (4 MiB) the thread is not keeping up. */
const MAX_OUTSTANDING = 64;
const SPARE_BATCHES = 4;

/** What the thread is started with. */
export interface OtlpThreadData {
  otlp: { url: string; headers?: Record<string, string>; protocol?: OtlpProtocol };
  node: string | undefined;
  /** performance.timeOrigin of the thread writing the records. */
  originMs: number;
}

export type ToThread =
  | { kind: 'records'; buffer: ArrayBuffer; length: number }
  | { kind: 'flush' | 'shutdown'; id: number };

type FromThread =
  | { kind: 'spare'; buffer: ArrayBuffer }
  | { kind: 'done'; id: number }
  | { kind: 'error'; message: string };

export class OtlpThread {
  private readonly worker: Worker;
  private batch: Buffer | undefined;
  private length = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly spare: Buffer[] = [];
  private outstanding = 0;
  private dropped = 0;
  /** The thread stopped (failed or shut down): add() refuses. */
  private stopped = false;
  private nextId = 0;
  private readonly waiting = new Map<number, () => void>();

  constructor(
    data: Omit<OtlpThreadData, 'originMs'>,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {
    const workerData: OtlpThreadData = { ...data, originMs: performance.timeOrigin };
    this.worker = startThread(workerData);
    // A daemon stops through shutdown(); nothing else should wait for this thread.
    this.worker.unref();
    this.worker.on('message', (message: FromThread) => this.received(message));
    this.worker.on('error', (error) => this.fail(`failed: ${error.message}`));
    this.worker.on('exit', (code) => this.fail(`exited with code ${code}`));
  }

  /** Hands a settled delivery to the thread; false when the thread is gone (export it here). */
  add(record: DeliveryRecord): boolean {
    if (this.stopped) return false;
    const room = maxRecordBytes(record);
    if (this.batch !== undefined && this.length + room > this.batch.length) this.send();
    if (this.batch === undefined) {
      if (this.outstanding >= MAX_OUTSTANDING) {
        this.drop();
        return true;
      }
      this.batch =
        room > BATCH_BYTES ? ownBuffer(room) : (this.spare.pop() ?? ownBuffer(BATCH_BYTES));
      this.timer = setTimeout(() => this.send(), BATCH_DELAY_MS).unref();
    }
    this.length = writeRecord(this.batch, this.length, record);
    return true;
  }

  /** Waits until what was added so far has been sent (or given up on). */
  flush(): Promise<void> {
    return this.request('flush');
  }

  /** Sends what is left, then stops the thread. */
  async shutdown(): Promise<void> {
    await this.request('shutdown');
    this.stopped = true;
    await this.worker.terminate();
  }

  private request(kind: 'flush' | 'shutdown'): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.send();
    const id = this.nextId++;
    // Held while waiting: a daemon that is only waiting for this answer must not exit first.
    this.worker.ref();
    return new Promise<void>((resolve) => {
      this.waiting.set(id, resolve);
      this.post({ kind, id });
    }).finally(() => {
      if (this.waiting.size === 0) this.worker.unref();
    });
  }

  /** Hands the batch being written to the thread. */
  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    if (this.length > 0 && !this.stopped) {
      this.outstanding++;
      this.post({ kind: 'records', buffer: batch.buffer as ArrayBuffer, length: this.length }, [
        batch.buffer as ArrayBuffer,
      ]);
    }
    this.length = 0;
  }

  private post(message: ToThread, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  private received(message: FromThread): void {
    switch (message.kind) {
      case 'spare':
        this.outstanding--;
        this.dropped = 0;
        if (this.spare.length < SPARE_BATCHES && message.buffer.byteLength === BATCH_BYTES)
          this.spare.push(Buffer.from(message.buffer));
        return;
      case 'done':
        this.waiting.get(message.id)?.();
        this.waiting.delete(message.id);
        return;
      case 'error':
        this.onError(new Error(message.message));
    }
  }

  private drop(): void {
    if (this.dropped++ === 0)
      this.onError(new Error('the OTLP export thread is not keeping up: spans are being dropped'));
  }

  private fail(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.onError(
      new Error(`the OTLP export thread ${why}; spans are sent from the event loop now`),
    );
    for (const resolve of this.waiting.values()) resolve();
    this.waiting.clear();
  }
}

/** A Buffer over an ArrayBuffer of its own (pooled ones cannot be transferred). */
function ownBuffer(bytes: number): Buffer {
  return Buffer.from(new ArrayBuffer(bytes));
}

/**
 * The thread, from the compiled otlp-thread.js; run from the TypeScript source (tests, benches,
 * `tsx`), through tsx, which is there whenever the source is.
 */
function startThread(workerData: OtlpThreadData): Worker {
  const entry = new URL(
    import.meta.url.endsWith('.ts') ? './otlp-thread.ts' : './otlp-thread.js',
    import.meta.url,
  );
  if (entry.pathname.endsWith('.js')) return new Worker(entry, { workerData });
  const source = `import('tsx/esm/api').then(({ tsImport }) => tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(source, { eval: true, workerData });
}
