// The quarantine on NATS: events refused at ingest are messages in `<stream>_QUARANTINE` (subject
// `<stream>.quarantine.<type>`, Nats-Msg-Id from (source, id), so a producer retrying a refused event
// is told it is a duplicate). The stream sequence is the quarantine id. A replay that fails again
// notes its findings in the state bucket (`qcheck.<id>`) rather than moving the event to a new id.
import type { AgentdEvent } from '../../core/envelope.js';
import { GateRefusal, type DataIssue, type IngestGate } from '../../core/ingest-gate.js';
import type { PublishResult } from '../bus.js';
import type {
  Quarantine,
  QuarantinedEvent,
  QuarantineFilter,
  QuarantineReplay,
} from '../quarantine.js';
import { eventMsgId, kvKeys } from './names.js';
import { asUnavailable, type NatsStore } from './nats-store.js';

export interface QuarantineHost {
  readonly store: NatsStore;
  readonly gate: IngestGate | undefined;
  /** Stores events the gate already admitted (no second check). */
  publishAdmitted(events: readonly AgentdEvent[]): Promise<PublishResult[]>;
}

interface QuarantineRecord {
  event: AgentdEvent;
  dataschema: string | null;
  issues: DataIssue[];
  quarantinedAt: string;
}

/** What the latest failed replay found. */
interface QuarantineCheck {
  dataschema: string | null;
  issues: DataIssue[];
  checkedAt: string;
  checks: number;
}

export class NatsQuarantine implements Quarantine {
  constructor(private readonly host: QuarantineHost) {}

  /** Stores a refused event; a duplicate when its (source, id) was quarantined already. */
  async add(event: AgentdEvent, refusal: GateRefusal): Promise<PublishResult> {
    const { store } = this.host;
    const record: QuarantineRecord = {
      event,
      dataschema: refusal.dataschema,
      issues: [...refusal.issues],
      quarantinedAt: new Date().toISOString(),
    };
    try {
      const ack = await store.publisher.publish(
        store.names.quarantineSubject(event.type),
        JSON.stringify(record),
        eventMsgId(event),
      );
      return ack.duplicate
        ? { id: event.id, source: event.source, duplicate: true }
        : { id: event.id, source: event.source, duplicate: false, quarantined: true };
    } catch (error) {
      throw asUnavailable(error, 'quarantining an event');
    }
  }

  async list(filter: QuarantineFilter = {}): Promise<QuarantinedEvent[]> {
    const { store } = this.host;
    const { names } = store;
    const subject =
      filter.type === undefined ? names.quarantineWildcard : names.quarantineSubject(filter.type);
    const checked = new Set<string>();
    for await (const key of await store.kv.keys(kvKeys.quarantineChecks)) checked.add(key);
    const found: QuarantinedEvent[] = [];
    let seq = 1;
    for (;;) {
      const message = await store.nextMessage(names.quarantineStream, seq, subject);
      if (message === undefined) break;
      seq = message.seq + 1;
      const check = checked.has(kvKeys.quarantineCheck(message.seq))
        ? await this.check(message.seq)
        : undefined;
      const entry = toQuarantined(message.seq, message.data, check);
      if (entry !== undefined) found.push(entry);
    }
    return found.reverse().slice(0, filter.limit ?? 100);
  }

  async show(id: string): Promise<QuarantinedEvent | undefined> {
    const seq = parseId(id);
    if (seq === undefined) return undefined;
    const { store } = this.host;
    const message = await store.nextMessage(store.names.quarantineStream, seq, undefined);
    if (message === undefined || message.seq !== seq) return undefined;
    return toQuarantined(seq, message.data, await this.check(seq));
  }

  async replay(ids: readonly string[]): Promise<QuarantineReplay> {
    const outcome: QuarantineReplay = { published: [], duplicates: [], refused: [], missing: [] };
    for (const id of ids) {
      const quarantined = await this.show(id);
      if (quarantined === undefined) {
        outcome.missing.push(id);
        continue;
      }
      const seq = Number(id);
      const verdict = this.host.gate?.admit(quarantined.event) ?? quarantined.event;
      if (verdict instanceof GateRefusal) {
        const check: QuarantineCheck = {
          dataschema: verdict.dataschema,
          issues: [...verdict.issues],
          checkedAt: new Date().toISOString(),
          checks: quarantined.checks + 1,
        };
        await this.host.store.kvPut(kvKeys.quarantineCheck(seq), check);
        outcome.refused.push({ id, issues: [...verdict.issues] });
        continue;
      }
      // Published first, deleted after: a replay cut short is repeated and found a duplicate.
      const [result] = await this.host.publishAdmitted([verdict]);
      await this.remove(seq);
      (result?.duplicate === true ? outcome.duplicates : outcome.published).push(id);
    }
    return outcome;
  }

  async purge(ids: readonly string[] | 'all'): Promise<number> {
    const { store } = this.host;
    if (ids === 'all') {
      const response = await store.jsm.streams.purge(store.names.quarantineStream);
      await store.kvPurgeFilter(kvKeys.quarantineChecks);
      return response.purged;
    }
    let purged = 0;
    for (const id of ids) {
      const seq = parseId(id);
      if (seq !== undefined && (await this.remove(seq))) purged++;
    }
    return purged;
  }

  async count(): Promise<number> {
    const { store } = this.host;
    return (await store.jsm.streams.info(store.names.quarantineStream)).state.messages;
  }

  private async remove(seq: number): Promise<boolean> {
    const { store } = this.host;
    const deleted = await store.jsm.streams
      .deleteMessage(store.names.quarantineStream, seq, false)
      .catch(() => false);
    await store.kvPurgeFilter(kvKeys.quarantineCheck(seq));
    return deleted;
  }

  private async check(seq: number): Promise<QuarantineCheck | undefined> {
    return (await this.host.store.kvGet<QuarantineCheck>(kvKeys.quarantineCheck(seq)))?.value;
  }
}

function parseId(id: string): number | undefined {
  return /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}

function toQuarantined(
  seq: number,
  data: Uint8Array,
  check: QuarantineCheck | undefined,
): QuarantinedEvent | undefined {
  try {
    const record = JSON.parse(new TextDecoder().decode(data)) as QuarantineRecord;
    return {
      id: String(seq),
      event: record.event,
      dataschema: check?.dataschema ?? record.dataschema,
      issues: check?.issues ?? record.issues,
      quarantinedAt: record.quarantinedAt,
      checkedAt: check?.checkedAt ?? record.quarantinedAt,
      checks: check?.checks ?? 1,
    };
  } catch {
    return undefined;
  }
}
