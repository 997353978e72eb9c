// What the daemon logs about agent routes when it starts: trust widenings and missing API keys.
import type { RouteDefinition } from '../core/route.js';
import { agentMarkOf } from './agent-definition.js';

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
