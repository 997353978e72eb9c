// How a verified GitHub delivery becomes an event: type github.<event>[.<action>], subject the
// repository, partition key the repository plus its pull request, issue or discussion number.
import { toEvent, type AgentdEvent } from '../../../core/envelope.js';
import { typeSegments } from '../../../core/type-template.js';
import { stringField } from '../webhook-request.js';

export interface GithubDelivery {
  /** The source's config name: events get `source` github:<name>. */
  sourceName: string;
  /** X-GitHub-Event, e.g. "pull_request". */
  event: string;
  /** X-GitHub-Delivery: the event id, so a redelivery is dropped as a duplicate. */
  deliveryId: string;
  payload: Record<string, unknown>;
  origin?: string;
}

/** `github.<event>.<action>` when the payload has an action, else `github.<event>`. */
export function githubEventType(event: string, payload: Record<string, unknown>): string {
  const action = stringField(payload, 'action');
  const type = `github.${typeSegments(event)}`;
  return action === undefined ? type : `${type}.${typeSegments(action)}`;
}

export function githubEvent(delivery: GithubDelivery): AgentdEvent {
  const { payload } = delivery;
  const type = githubEventType(delivery.event, payload);
  const repository = stringField(payload.repository, 'full_name');
  const subject = repository ?? stringField(payload.organization, 'login');
  const number = threadNumber(payload);
  const partitionkey =
    repository === undefined
      ? undefined
      : number === undefined
        ? repository
        : `${repository}#${number}`;
  return toEvent(
    {
      id: delivery.deliveryId,
      source: `github:${delivery.sourceName}`,
      type,
      dataschema: `agentd:${type}/v1`,
      datacontenttype: 'application/json',
      data: payload,
      ...(subject === undefined ? {} : { subject }),
      ...(partitionkey === undefined ? {} : { partitionkey }),
    },
    {
      source: `github:${delivery.sourceName}`,
      trust: 'external',
      maxTrust: 'external',
      ...(delivery.origin === undefined ? {} : { origin: delivery.origin }),
    },
  );
}

// Events about one pull request, issue or discussion share its number, so they run in order.
function threadNumber(payload: Record<string, unknown>): number | undefined {
  for (const value of [
    payload.number,
    field(payload.pull_request, 'number'),
    field(payload.issue, 'number'),
    field(payload.discussion, 'number'),
  ]) {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  }
  return undefined;
}

function field(object: unknown, key: string): unknown {
  return typeof object === 'object' && object !== null
    ? (object as Record<string, unknown>)[key]
    : undefined;
}
