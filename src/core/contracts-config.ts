// Config schema of event contracts: user event types (`types`), how strictly ingest checks events
// (`contracts`), and what a route accepts (`accepts`).
import { z } from 'zod';
import {
  isContractVersion,
  isEventType,
  type ContractVersion,
  type EventTypeDefinition,
} from './event-type.js';

/** Event types of the user's own: each made by defineEventType(), with its versions and upcasters. */
export const typesSchema = z
  .array(
    z.custom<EventTypeDefinition>(isEventType, {
      error: 'expected an event type made by defineEventType(name, schema)',
    }),
  )
  .optional();

export const contractsSchema = z
  .strictObject({
    /** Check `data` of every event whose type has a contract, at ingest. Default true. */
    validate: z.boolean().optional(),
    /** Events whose type has no contract: 'pass' (default) stores them unchecked, 'quarantine'
     * refuses them into the quarantine. */
    unknownTypes: z.enum(['pass', 'quarantine']).optional(),
  })
  .optional();

const VERSION = /^(v[1-9]\d*|agentd:[A-Za-z0-9_.-]+\/v[1-9]\d*)$/;

export const acceptsSchema = z
  .union([
    z.string().regex(VERSION, 'expected "v2" or "agentd:<type>/v2"'),
    z.custom<ContractVersion>(isContractVersion, {
      error: 'expected a version such as "v2" or a handle such as invoicePaid.v2',
    }),
  ])
  .optional();
