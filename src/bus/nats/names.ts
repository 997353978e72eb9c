// Where things live in NATS: stream, subject, consumer and KV key names for one agentd namespace.
// Every name is derived here, so the layout can be read (and changed) in one place.
import { createHash } from 'node:crypto';
import type { AgentdEvent } from '../../core/envelope.js';

/** Header naming the only subscription a message is for (DLQ replays). */
export const ONLY_HEADER = 'Agentd-Only';
/** Header holding the earliest delivery time (ms since the epoch) of a delayed publish. */
export const DELIVER_AT_HEADER = 'Agentd-Deliver-At';
/** Header of a parked delivery's resumed copy: the stream sequence of the message it continues. */
export const RESUMES_HEADER = 'Agentd-Resumes';
/** Subject token of events without a partition key. */
export const NO_KEY = '_';

export interface Names {
  /** The events stream; also the prefix of every subject and bucket. */
  stream: string;
  dlqStream: string;
  /** One KV bucket holds subscriptions, key locks, run records, staged emits and steps. */
  bucket: string;
  /** Subjects the events stream captures. */
  eventsWildcard: string;
  eventSubject(event: AgentdEvent, keyToken: string): string;
  /** The filter subject of a consumer over `types` (one pattern → server-side; else all events). */
  filterSubject(types: readonly string[]): string;
  /** Subjects of one key's events that could match `types`, for head lookups. */
  keySubjects(keyToken: string, types: readonly string[]): string[];
  dlqSubject(subToken: string): string;
  dlqWildcard: string;
  /** Events refused at ingest, by type: `<stream>.quarantine.<type>`. */
  quarantineStream: string;
  quarantineSubject(type: string): string;
  quarantineWildcard: string;
  /** Recorded outbox actions, one entry each (`a.<id>`), and lane locks (`lane.<hash>`). */
  outboxBucket: string;
  /** Core NATS subject (not stored) announcing that a key of a subscription moved on. */
  wakeSubject(subToken: string): string;
  /** Core NATS subject (not stored) telling a route's workers that a key's older runs are cancelled. */
  cancelSubject(subToken: string): string;
  /** Run status changes for the admin API's history (src/history), one stream of their own. */
  historyStream: string;
  historySubject(subToken: string): string;
  historyWildcard: string;
}

export function namesFor(stream: string): Names {
  const dlqStream = `${stream}_DLQ`;
  return {
    stream,
    dlqStream,
    bucket: `${stream}_state`,
    eventsWildcard: `${stream}.ev.>`,
    eventSubject: (event, keyToken) => `${stream}.ev.${keyToken}.${event.type}`,
    filterSubject(types) {
      const only = types.length === 1 ? patternSubject(types[0]!) : undefined;
      return only === undefined ? `${stream}.ev.>` : `${stream}.ev.*.${only}`;
    },
    keySubjects(keyToken, types) {
      // One lookup for a route of several patterns: the key's next message is most often one of
      // them, and each that is not costs one more lookup (the caller filters by type).
      const only = types.length === 1 ? patternSubject(types[0]!) : undefined;
      return [`${stream}.ev.${keyToken}.${only ?? '>'}`];
    },
    dlqSubject: (subToken) => `${stream}.dlq.${subToken}`,
    dlqWildcard: `${stream}.dlq.*`,
    quarantineStream: `${stream}_QUARANTINE`,
    quarantineSubject: (type) => `${stream}.quarantine.${type}`,
    quarantineWildcard: `${stream}.quarantine.>`,
    outboxBucket: `${stream}_outbox`,
    wakeSubject: (subToken) => `${stream}.wake.${subToken}`,
    cancelSubject: (subToken) => `${stream}.cancel.${subToken}`,
    historyStream: `${stream}_HISTORY`,
    historySubject: (subToken) => `${stream}.hist.${subToken}`,
    historyWildcard: `${stream}.hist.>`,
  };
}

/** A type pattern as a NATS subject: `*` is one token, a trailing `**` is `>`; else undefined. */
function patternSubject(pattern: string): string | undefined {
  const segments = pattern.split('.');
  const mid = segments.slice(0, -1);
  if (mid.includes('**')) return undefined;
  return segments.map((s) => (s === '**' ? '>' : s)).join('.');
}

/** Stream and bucket names allow letters, digits, `-` and `_`. */
export function validStreamName(name: string): boolean {
  return /^[A-Za-z0-9_-]{1,48}$/.test(name);
}

/** The type of an event from its subject (`<stream>.ev.<key>.<type...>`). */
export function typeOfSubject(stream: string, subject: string): string {
  return subject.slice(stream.length + 4).replace(/^[^.]+\./, '');
}

/** A readable, unique token for a subscription: consumer name and KV key segment. */
export function subscriptionToken(name: string): string {
  const readable = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32);
  return `${readable}_${hash(name).slice(0, 10)}`;
}

/** The subject token of a partition key; a hash collision only makes two keys share an order. */
export function keyToken(partitionkey: string | undefined): string {
  return partitionkey === undefined ? NO_KEY : hash(partitionkey).slice(0, 20);
}

/**
 * The lock token of a route key: the expression is part of it, so locks of a route whose key
 * expression changed never meet those of the old one (nor partition keys' tokens).
 */
export function routeKeyToken(expression: string, key: string): string {
  return hash(`key ${expression}\n${key}`).slice(0, 20);
}

/** Nats-Msg-Id of an event: the (source, id) pair, hashed so any characters are safe. */
export function eventMsgId(event: Pick<AgentdEvent, 'source' | 'id'>): string {
  return hash(`${event.source}\n${event.id}`);
}

/** The KV key segment naming one event, for step memos. */
export function eventToken(event: Pick<AgentdEvent, 'source' | 'id'>): string {
  return hash(`${event.source}\n${event.id}`).slice(0, 32);
}

export function stepToken(name: string): string {
  return hash(name).slice(0, 24);
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export const kvKeys = {
  subscription: (subToken: string) => `sub.${subToken}`,
  subscriptions: 'sub.*',
  keyLock: (subToken: string, keyTok: string) => `key.${subToken}.${keyTok}`,
  run: (subToken: string, seq: number) => `run.${subToken}.${seq}`,
  runs: (subToken: string) => `run.${subToken}.*`,
  /** What an ack records (events, outbox actions), staged before any of it goes out. */
  emits: (subToken: string, seq: number) => `emit.${subToken}.${seq}`,
  /** What a park records, staged per wait step. */
  parkStage: (subToken: string, seq: number, stepTok: string) =>
    `emit.${subToken}.${seq}.${stepTok}`,
  /** A parked delivery's wait (ctx.waitForEvent). */
  wait: (subToken: string, seq: number, stepTok: string) => `wait.${subToken}.${seq}.${stepTok}`,
  waits: 'wait.>',
  /** What a failed quarantine replay found, beside the quarantined message (its id). */
  quarantineCheck: (id: number) => `qcheck.${id}`,
  quarantineChecks: 'qcheck.*',
  step: (subToken: string, eventTok: string, stepTok: string) =>
    `step.${subToken}.${eventTok}.${stepTok}`,
  steps: (subToken: string, eventTok: string) => `step.${subToken}.${eventTok}.*`,
};
