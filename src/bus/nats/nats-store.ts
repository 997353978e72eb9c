// The NATS side of NatsBus: one connection, the events stream, the DLQ stream and the state bucket,
// plus the few raw JetStream calls the client library does not wrap (MSG.GET next_by_subj).
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { BusUnavailableError } from '../../core/errors.js';
import { KvBucket, type Versioned } from './kv-bucket.js';
import { namesFor, validStreamName, type Names } from './names.js';
import { StreamPublisher } from './stream-publisher.js';

export interface NatsStoreOptions {
  /** NATS server URLs, e.g. `nats://10.0.0.5:4222`. */
  servers: string | readonly string[];
  /** Name of the events stream; also prefixes every subject and bucket. Default 'AGENTD'. */
  stream?: string | undefined;
  /** Stream and bucket replicas (1 on a single server, 3 on a cluster). Default 1. */
  replicas?: number | undefined;
  /** Events and state older than this are dropped (0 keeps everything). Default 7 days. */
  retentionMs?: number | undefined;
  /** How long a (source, id) is remembered to drop duplicate publishes. Default 2 hours. */
  dedupWindowMs?: number | undefined;
  /** How long a JetStream request may take before the bus reports NATS unavailable. */
  requestTimeoutMs?: number | undefined;
  /** Connection name shown by the NATS server (monitoring). */
  connectionName?: string | undefined;
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
}

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** When the server stored it (ms since the epoch). */
  storedAt: number;
  header(name: string): string | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const NS = 1_000_000;

export class NatsStore {
  connected = true;
  readonly publisher: StreamPublisher;
  /** The state bucket as versioned JSON entries. */
  readonly state: KvBucket;
  private statusLoop: Promise<void> | undefined;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly kv: KV,
    /** Recorded outbox actions and lane locks; no TTL (finished actions are swept by age). */
    readonly outbox: KvBucket,
    readonly names: Names,
    readonly requestTimeoutMs: number,
    /** Events, state and finished outbox actions older than this are dropped (0: never). */
    readonly retentionMs: number,
  ) {
    this.publisher = new StreamPublisher(nc, requestTimeoutMs);
    this.state = new KvBucket(kv);
  }

  static async open(options: NatsStoreOptions): Promise<NatsStore> {
    const stream = options.stream ?? 'AGENTD';
    if (!validStreamName(stream))
      throw new Error(`bus.stream "${stream}": expected 1-48 letters, digits, - or _`);
    const servers = typeof options.servers === 'string' ? [options.servers] : [...options.servers];
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: options.connectionName ?? 'agentd',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(options.pass === undefined ? {} : { pass: options.pass }),
        ...(options.token === undefined ? {} : { token: options.token }),
      });
    } catch (error) {
      throw new BusUnavailableError(
        `cannot reach NATS at ${servers.join(', ')}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      const timeout = options.requestTimeoutMs ?? 5_000;
      const js = jetstream(nc, { timeout });
      const jsm = await jetstreamManager(nc, { timeout });
      const names = namesFor(stream);
      const retentionMs = options.retentionMs ?? 7 * DAY_MS;
      const dedupMs = Math.min(
        options.dedupWindowMs ?? 2 * 60 * 60 * 1000,
        retentionMs > 0 ? retentionMs : Number.MAX_SAFE_INTEGER,
      );
      const replicas = options.replicas ?? 1;
      await ensureStream(jsm, {
        name: names.stream,
        subjects: [names.eventsWildcard],
        duplicate_window: dedupMs * NS,
        max_age: retentionMs * NS,
        num_replicas: replicas,
        description: 'agentd events',
      });
      await ensureStream(jsm, {
        name: names.dlqStream,
        subjects: [names.dlqWildcard],
        duplicate_window: 60 * 60 * 1000 * NS,
        num_replicas: replicas,
        description: 'agentd dead letters',
      });
      await ensureStream(jsm, {
        name: names.quarantineStream,
        subjects: [names.quarantineWildcard],
        duplicate_window: dedupMs * NS,
        num_replicas: replicas,
        description: 'agentd events refused at ingest',
      });
      // Run status changes for the admin API's history (src/history), kept as long as the events.
      await ensureStream(jsm, {
        name: names.historyStream,
        subjects: [names.historyWildcard],
        max_age: retentionMs * NS,
        num_replicas: replicas,
        description: 'agentd run status changes, for the admin API history',
      });
      const kvm = new Kvm(js);
      const kv = await kvm.create(names.bucket, {
        history: 1,
        replicas,
        ttl: retentionMs,
        allow_direct: false,
        description: 'agentd subscriptions, key locks, run records, steps, waits',
      });
      const outbox = await kvm.create(names.outboxBucket, {
        history: 1,
        replicas,
        allow_direct: false,
        description: 'agentd outbox actions and lane locks',
      });
      const store = new NatsStore(
        nc,
        js,
        jsm,
        kv,
        new KvBucket(outbox),
        names,
        timeout,
        retentionMs,
      );
      store.watchStatus();
      return store;
    } catch (error) {
      await nc.close();
      throw asUnavailable(error, 'setting up the agentd streams in NATS');
    }
  }

  /** Fails fast while disconnected, so a publish that failed is never sent later. */
  assertConnected(what: string): void {
    if (!this.connected || this.nc.isClosed())
      throw new BusUnavailableError(`NATS is unreachable: cannot ${what}; nothing was stored`);
  }

  /** The first stored message at or after `seq` on `subject` (wildcards allowed). */
  async nextMessage(
    stream: string,
    seq: number,
    subject: string | undefined,
  ): Promise<StoredMessage | undefined> {
    const body = subject === undefined ? { seq } : { seq, next_by_subj: subject };
    const reply = await this.nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify(body), {
      timeout: this.requestTimeoutMs,
    });
    const answer = reply.json<{
      message?: { subject: string; seq: number; hdrs?: string; data?: string; time?: string };
      error?: { code: number; err_code?: number; description?: string };
    }>();
    if (answer.error !== undefined) {
      if (answer.error.code === 404) return undefined;
      throw new Error(`JetStream: ${answer.error.description ?? `error ${answer.error.code}`}`);
    }
    const message = answer.message;
    if (message === undefined) return undefined;
    const headerText =
      message.hdrs === undefined ? '' : Buffer.from(message.hdrs, 'base64').toString('utf8');
    return {
      seq: message.seq,
      subject: message.subject,
      data: message.data === undefined ? new Uint8Array() : Buffer.from(message.data, 'base64'),
      storedAt: message.time === undefined ? 0 : Date.parse(message.time),
      header: (name) => readHeader(headerText, name),
    };
  }

  /** A core NATS publish that may be lost anyway (wake-ups): false when the connection is gone. */
  publishQuietly(subject: string, payload: string): boolean {
    try {
      this.nc.publish(subject, payload);
      return true;
    } catch {
      return false;
    }
  }

  async kvGet<T>(key: string): Promise<Versioned<T> | undefined> {
    return this.state.get<T>(key);
  }

  /** Stores `value` unless the key exists; returns false when it did. */
  async kvCreate(key: string, value: unknown): Promise<boolean> {
    return (await this.state.create(key, value)) > 0;
  }

  /**
   * Compare-and-set on the key's revision (0: the key must not exist). Returns the new revision,
   * or 0 when the key had moved on.
   */
  async kvSwap(key: string, value: unknown, revision: number): Promise<number> {
    return this.state.swap(key, value, revision);
  }

  async kvPut(key: string, value: unknown): Promise<void> {
    await this.kv.put(key, JSON.stringify(value));
  }

  /** Removes every key under `filter` (e.g. `step.<sub>.<event>.*`) in one request. */
  async kvPurgeFilter(filter: string): Promise<void> {
    await this.jsm.streams.purge(`KV_${this.names.bucket}`, {
      filter: `$KV.${this.names.bucket}.${filter}`,
    });
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    this.publisher.close();
    await this.nc.drain().catch(() => this.nc.close());
    await this.statusLoop;
  }

  private watchStatus(): void {
    this.statusLoop = (async () => {
      for await (const status of this.nc.status()) {
        if (status.type === 'disconnect') this.connected = false;
        if (status.type === 'reconnect') this.connected = true;
        if (status.type === 'close') this.connected = false;
      }
    })();
  }
}

async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    try {
      await jsm.streams.add({ storage: 'file', retention: 'limits', ...config });
    } catch (error) {
      // Another process may have created it meanwhile; only then is info() answered now.
      await jsm.streams.info(config.name).catch(() => {
        throw error;
      });
    }
  }
}

function readHeader(text: string, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted)
      return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** Wraps connection-level failures (timeouts, no responders, closed) as BusUnavailableError. */
export function asUnavailable(error: unknown, what: string): unknown {
  if (error instanceof BusUnavailableError) return error;
  const name = (error as { name?: string }).name ?? '';
  const message = (error as { message?: string }).message ?? String(error);
  if (
    /Timeout|NoResponders|ClosedConnection|ConnectionError|RequestError|JetStreamNotEnabled/.test(
      name,
    ) ||
    /timeout|no responders|closed|disconnect|CONNECTION_|jetstream (is )?not (enabled|ready)|unavailable/i.test(
      message,
    )
  ) {
    return new BusUnavailableError(`NATS is unavailable while ${what}: ${message}`, {
      cause: error,
    });
  }
  return error;
}
