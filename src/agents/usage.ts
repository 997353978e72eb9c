// Token accounting and cost: per turn from the provider's usage report, summed per run.
import type { Spent } from '../core/route.js';

export interface TokenUsage {
  /** Input tokens billed at the full input rate (cache reads and writes excluded). */
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

/** US dollars per million tokens. Cache rates default to the input rate. */
export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
  cacheReadPerMTok?: number;
  cacheWritePerMTok?: number;
}

/** What a run spent, on the handler's result and in `agentd.run.completed`. */
export interface AgentUsage extends TokenUsage {
  provider: string;
  model: string;
  /** Model calls, sub-agents' included. */
  turns: number;
  toolCalls: number;
  totalTokens: number;
  /** Present when some agent of the run has a `price`; turns of agents without one count 0. */
  costUsd?: number;
}

export const NO_TOKENS: TokenUsage = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
});

export function addTokens(a: TokenUsage, b: TokenUsage): TokenUsage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
  };
}

export function totalTokens(usage: TokenUsage): number {
  return usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
}

export function costUsd(usage: TokenUsage, price: Price): number {
  const perToken =
    usage.inputTokens * price.inputPerMTok +
    usage.outputTokens * price.outputPerMTok +
    usage.cacheReadTokens * (price.cacheReadPerMTok ?? price.inputPerMTok) +
    usage.cacheWriteTokens * (price.cacheWritePerMTok ?? price.inputPerMTok);
  // Micro-dollar rounding keeps sums of many turns free of float noise in logs and events.
  return Math.round(perToken) / 1e6;
}

/** A running total for one run: tokens, turns, tool calls and cost (when priced). */
export class UsageMeter {
  private tokens: TokenUsage = NO_TOKENS;
  private cost: number | undefined;
  turns = 0;
  toolCalls = 0;

  constructor(
    private readonly provider: string,
    private readonly model: string,
  ) {}

  addTurn(usage: TokenUsage, price: Price | undefined): void {
    this.turns++;
    this.tokens = addTokens(this.tokens, usage);
    if (price !== undefined) this.cost = round6((this.cost ?? 0) + costUsd(usage, price));
  }

  /** Folds in what a sub-agent or a command agent spent. */
  addUsage(usage: AgentUsage): void {
    this.turns += usage.turns;
    this.toolCalls += usage.toolCalls;
    this.tokens = addTokens(this.tokens, usage);
    if (usage.costUsd !== undefined) this.cost = round6((this.cost ?? 0) + usage.costUsd);
  }

  get total(): number {
    return totalTokens(this.tokens);
  }

  snapshot(): AgentUsage {
    return {
      provider: this.provider,
      model: this.model,
      turns: this.turns,
      toolCalls: this.toolCalls,
      ...this.tokens,
      totalTokens: totalTokens(this.tokens),
      ...(this.cost === undefined ? {} : { costUsd: this.cost }),
    };
  }
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** What one model call cost, as ctx.spend books it (dollars only with a price). */
export function spentOn(usage: TokenUsage, price: Price | undefined): Spent {
  return {
    tokens: totalTokens(usage),
    ...(price === undefined ? {} : { costUsd: costUsd(usage, price) }),
  };
}
