// emit_event: the model publishes an event of an allowed type, through ctx.emit (so it goes out
// with the run's success and carries the run's correlation, causation and trust).
import { z } from 'zod';
import { toEvent } from '../../core/envelope.js';
import { compilePatterns } from '../../core/type-pattern.js';
import { ToolRefusedError } from '../agent-errors.js';
import { toolFromZod, type AgentTool } from './tool.js';

export interface EmitToolOptions {
  /** Type patterns the model may emit, e.g. `['review.ready', 'triage.*']`. */
  types: string[];
}

export function emitTool(options: EmitToolOptions): AgentTool {
  const matches = compilePatterns(options.types);
  return toolFromZod(
    {
      name: 'emit_event',
      description: `Publishes an event when this run succeeds. Allowed types: ${options.types.join(', ')}. \`data\` is any JSON value.`,
      input: z.object({
        type: z.string().min(1),
        data: z.unknown().optional(),
        subject: z.string().min(1).optional(),
        partitionkey: z
          .string()
          .min(1)
          .optional()
          .describe('events sharing a key are handled in order'),
      }),
      run: ({ type, data, subject, partitionkey }, ctx) => {
        if (!matches(type)) {
          throw new ToolRefusedError(
            `event type "${type}" is not allowed (${options.types.join(', ')})`,
          );
        }
        const input = {
          type,
          ...(data === undefined ? {} : { data }),
          ...(subject === undefined ? {} : { subject }),
          ...(partitionkey === undefined ? {} : { partitionkey }),
        };
        // Validates now, so a bad event is the model's to fix rather than a failed run later.
        toEvent(input, { source: 'agentd://check', trust: 'internal' });
        const id = ctx.emit(input);
        return `queued ${type} as event ${id}; it is published when this run succeeds`;
      },
    },
    'emit',
    true,
  );
}
