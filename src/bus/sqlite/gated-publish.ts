// Publishing through an ingest gate: events the gate admits are stored and fanned out as usual,
// refused ones go to the quarantine, all in the caller's transaction. When the gate admits every
// event unchanged (the common case) the batch goes to the publisher as it came, without copies.
import type { AgentdEvent } from '../../core/envelope.js';
import { GateRefusal, type IngestGate } from '../../core/ingest-gate.js';
import type { PublishResult } from '../bus.js';

export function publishThroughGate(
  gate: IngestGate,
  events: readonly AgentdEvent[],
  publish: (admitted: readonly AgentdEvent[]) => PublishResult[],
  quarantine: (event: AgentdEvent, refusal: GateRefusal) => PublishResult,
): PublishResult[] {
  let verdicts: (AgentdEvent | GateRefusal)[] | undefined;
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as AgentdEvent;
    const verdict = gate.admit(event);
    if (verdicts === undefined && verdict !== event) verdicts = events.slice(0, i);
    verdicts?.push(verdict);
  }
  if (verdicts === undefined) return publish(events);
  const admitted = verdicts.filter((v): v is AgentdEvent => !(v instanceof GateRefusal));
  const stored = publish(admitted);
  let next = 0;
  return verdicts.map((verdict, i) =>
    verdict instanceof GateRefusal
      ? quarantine(events[i] as AgentdEvent, verdict)
      : (stored[next++] as PublishResult),
  );
}
