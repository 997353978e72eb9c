// What runs cost and how often they start: the usage an agent handler reports (its result's, or
// its error's, `usage`), the mean of recent runs (the default budget reservation), and runs per
// minute for `agentd status`.
import { NO_USAGE, type UsageAmount } from './governor-store.js';

/**
 * The tokens and dollars a run reports: `{ usage: { totalTokens, costUsd? } }` on what an agent
 * handler returns (AgentUsage, src/agents/usage.ts) or throws. Undefined when it reports none.
 */
export function usageAmountOf(outcome: unknown): UsageAmount | undefined {
  if (typeof outcome !== 'object' || outcome === null) return undefined;
  const usage = (outcome as { usage?: unknown }).usage;
  if (typeof usage !== 'object' || usage === null) return undefined;
  const { totalTokens, costUsd } = usage as { totalTokens?: unknown; costUsd?: unknown };
  const tokens = typeof totalTokens === 'number' && totalTokens > 0 ? totalTokens : 0;
  const cost = typeof costUsd === 'number' && costUsd > 0 ? costUsd : 0;
  return { tokens, costUsd: cost };
}

/** The last `size` runs' usage; its mean is what a run reserves when the budget names no amount. */
export class UsageHistory {
  private readonly recent: UsageAmount[] = [];
  private next = 0;
  private sum: UsageAmount = NO_USAGE;

  constructor(private readonly size = 20) {}

  add(usage: UsageAmount): void {
    const dropped = this.recent.length < this.size ? undefined : this.recent[this.next];
    if (dropped === undefined) this.recent.push(usage);
    else this.recent[this.next] = usage;
    this.next = (this.next + 1) % this.size;
    this.sum = {
      tokens: this.sum.tokens + usage.tokens - (dropped?.tokens ?? 0),
      costUsd: this.sum.costUsd + usage.costUsd - (dropped?.costUsd ?? 0),
    };
  }

  /** Zero with no history yet. */
  mean(): UsageAmount {
    const n = this.recent.length;
    if (n === 0) return NO_USAGE;
    return { tokens: Math.ceil(this.sum.tokens / n), costUsd: Math.max(0, this.sum.costUsd / n) };
  }
}

/** Runs started per minute: counts in one-second slots over the last sixty seconds. */
export class RunRate {
  private readonly slots = new Array<number>(60).fill(0);
  private slotSecond = 0;

  constructor(private readonly now: () => number) {}

  started(): void {
    this.advance();
    this.slots[this.slotSecond % 60]!++;
  }

  perMinute(): number {
    this.advance();
    return this.slots.reduce((sum, n) => sum + n, 0);
  }

  /** Clears the slots of the seconds that passed since the last call. */
  private advance(): void {
    const second = Math.floor(this.now() / 1_000);
    const passed = Math.min(60, second - this.slotSecond);
    for (let i = 1; i <= passed; i++) this.slots[(this.slotSecond + i) % 60] = 0;
    if (second > this.slotSecond) this.slotSecond = second;
  }
}
