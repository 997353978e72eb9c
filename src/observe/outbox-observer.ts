// What the outbox dispatcher reports about each send, and where it goes: counters and a duration
// histogram per sink (read by /metrics) and a span per send, a child of the span of the run that
// recorded the action (its `cause.traceparent`), so a trace runs on from the run to what it sent.
import { SpanStatusCode } from '@opentelemetry/api';
import type { StoredAction } from '../bus/outbox-store.js';
import type { OutboxMetrics } from './outbox-metrics.js';
import { SpanKind, type Span, type Tracing } from './tracing.js';

/** How one send ended: sent, failed and to be tried again, failed for good, or cut off by a stop. */
export type SendOutcome = 'sent' | 'retry' | 'dead' | 'interrupted';

export interface OutboxSend {
  settled(outcome: SendOutcome, error?: unknown): void;
}

export interface OutboxObserver {
  /** A send of `action` begins; the handle returned is told how it ended. */
  sending(action: StoredAction): OutboxSend;
}

const NOOP_SEND: OutboxSend = { settled: () => undefined };
export const NOOP_OUTBOX_OBSERVER: OutboxObserver = { sending: () => NOOP_SEND };

export class DispatchObserver implements OutboxObserver {
  constructor(
    private readonly options: {
      metrics?: OutboxMetrics | undefined;
      tracing?: Tracing | undefined;
    },
  ) {}

  sending(action: StoredAction): OutboxSend {
    const started = performance.now();
    const span = this.options.tracing?.startSpan(
      `send ${action.sink}.${action.action}`,
      SpanKind.CLIENT,
      action.cause.traceparent,
      {
        'agentd.action.id': action.id,
        'agentd.action.sink': action.sink,
        'agentd.action.name': action.action,
        'agentd.action.attempt': action.attempt,
        'agentd.run.id': action.runId,
        'agentd.route': action.route,
      },
    );
    const metrics = this.options.metrics;
    return {
      settled(outcome, error) {
        if (outcome !== 'interrupted')
          metrics?.sent(action.sink, outcome, (performance.now() - started) / 1_000);
        if (span !== undefined) endSpan(span, outcome, error);
      },
    };
  }
}

function endSpan(span: Span, outcome: SendOutcome, error: unknown): void {
  span.setAttribute('agentd.action.outcome', outcome);
  if (outcome !== 'sent') {
    const message = error instanceof Error ? error.message : outcome;
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    if (error instanceof Error) span.recordException(error);
  }
  span.end();
}
