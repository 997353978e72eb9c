// What the bus asks before it stores an event: does its `data` keep its type's contract? A bus with
// a gate stores an event that does not in its quarantine instead, never delivering it.
import type { AgentdEvent } from './envelope.js';

/** One way `data` breaks its contract: which field, what the schema wanted, what came. */
export interface DataIssue {
  /** `pull_request.head.sha`, `labels[2].name`, or `(root)`. */
  path: string;
  /** `string`, `one of "open" | "closed"`, `a field (it is required)`, ... */
  expected: string;
  /** `the number 42`, `nothing`, ... */
  got: string;
  message: string;
}

/** Why an event goes to the quarantine. A class: an event's own fields can never pass for one. */
export class GateRefusal {
  constructor(
    /** The contract version checked against, when there was one. */
    readonly dataschema: string | null,
    readonly issues: readonly DataIssue[],
  ) {}
}

export interface IngestGate {
  /**
   * The event to store (itself, or a copy whose `dataschema` names the version it was checked
   * against), or why it must be quarantined. Synchronous and cheap: it runs inside the publish.
   */
  admit(event: AgentdEvent): AgentdEvent | GateRefusal;
}

export function isRefusal(verdict: AgentdEvent | GateRefusal): verdict is GateRefusal {
  return verdict instanceof GateRefusal;
}

/** One line naming every issue: `pull_request.number: expected number, got the string "42"`. */
export function describeIssues(issues: readonly DataIssue[]): string {
  return issues.map((i) => `${i.path}: expected ${i.expected}, got ${i.got}`).join('; ');
}
