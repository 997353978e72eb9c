// A family of built-in types that share one shape (a GitHub event's actions): the reference page
// shows them together, with one example.
import type { EventTypeDefinition } from '../../core/event-type.js';

export interface TypeFamily {
  /** `github.pull_request.*`, `schedule.*`, `agentd.run.completed`. */
  title: string;
  summary: string;
  types: EventTypeDefinition[];
}
