// What the daemon logs about agent routes when it starts: trust widenings, missing API keys, and
// provider limits no agent uses.
import type { RouteDefinition } from '../core/route.js';
import { agentMarkOf, type AgentDefinition } from './agent-definition.js';
import { providerName } from './provider-options.js';

export interface RouteWarning {
  route: string;
  message: string;
}

export function agentStartupWarnings(
  routes: readonly (RouteDefinition & { name: string })[],
): RouteWarning[] {
  const warnings: RouteWarning[] = [];
  for (const route of routes) {
    const mark = agentMarkOf(route.handler);
    if (mark === undefined) continue;
    for (const message of mark.startupWarnings()) warnings.push({ route: route.name, message });
  }
  return warnings;
}

/**
 * `governor.providers` entries no agent of the routes calls by that name: most likely a typo, and
 * a limit that silently limits nothing.
 */
export function unusedProviderLimits(
  routes: readonly RouteDefinition[],
  configured: readonly string[],
): string[] {
  if (configured.length === 0) return [];
  const used = new Set<string>();
  for (const route of routes) {
    if (agentMarkOf(route.handler) === undefined) continue;
    collectProviderNames((route.handler as { definition?: AgentDefinition }).definition, used);
  }
  return configured
    .filter((name) => !used.has(name))
    .map(
      (name) =>
        `governor.providers.${name}: no agent calls a provider named "${name}" (known: ${[...used].sort().join(', ') || 'none'}); set the provider's name option or fix the key`,
    );
}

/** The provider names an agent and its sub-agents (tools.agents) call. */
function collectProviderNames(
  definition: AgentDefinition | undefined,
  into: Set<string>,
  seen = new Set<AgentDefinition>(),
): void {
  // One agent may be the tool of several others: each is visited once.
  if (definition === undefined || seen.has(definition)) return;
  seen.add(definition);
  if (definition.provider.kind !== 'command') into.add(providerName(definition.provider));
  for (const sub of Object.values(definition.options.tools?.agents ?? {}))
    collectProviderNames(sub.definition, into, seen);
}
