// The route registry every process mirrors: each route's entry `sub.<route>` in the state bucket
// (types, ordering, active, governor options), loaded at connect and kept current by a KV watch,
// so that any process answers hasSubscribers() and applies every route's singleton and cancelOn
// to what it publishes.
import { compilePatterns } from '../../core/type-pattern.js';
import { governedRoute, type GovernedRoute, type NatsGovernorSpec } from './governed-route.js';
import { kvKeys, subscriptionToken } from './names.js';
import type { NatsStore } from './nats-store.js';

export interface RegisteredRoute {
  name: string;
  types: string[];
  ordering: 'key' | 'none';
  active: boolean;
  updatedAt: string;
  /** Singleton, cancelOn, debounce: every process applies them to what it publishes. */
  governor?: NatsGovernorSpec;
}

interface Known {
  entry: RegisteredRoute;
  matches: (type: string) => boolean;
  governed: GovernedRoute | undefined;
}

export class RouteRegistry {
  private readonly known = new Map<string, Known>();
  private watching: Promise<void> | undefined;
  private stopWatching: (() => void) | undefined;

  constructor(
    private readonly store: NatsStore,
    private readonly reportError: (error: unknown, context: Record<string, unknown>) => void,
  ) {}

  async load(): Promise<void> {
    const keys: string[] = [];
    for await (const key of await this.store.kv.keys(kvKeys.subscriptions)) keys.push(key);
    for (const key of keys) {
      const found = await this.store.kvGet<RegisteredRoute>(key);
      if (found !== undefined) this.remember(found.value);
    }
    // Routes that workers elsewhere add or remove show up here, for hasSubscribers().
    const watch = await this.store.kv.watch({ key: kvKeys.subscriptions });
    this.stopWatching = () => watch.stop();
    this.watching = (async () => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') continue;
        try {
          this.remember(entry.json<RegisteredRoute>());
        } catch (error) {
          this.reportError(error, { what: 'route registry entry', key: entry.key });
        }
      }
    })();
  }

  /** Stores a route's entry and returns its governor options compiled, if it has any. */
  async register(entry: RegisteredRoute): Promise<GovernedRoute | undefined> {
    await this.store.kvPut(kvKeys.subscription(subscriptionToken(entry.name)), entry);
    return this.remember(entry).governed;
  }

  /** Marks the active routes not named inactive; returns those it marked. */
  async retain(names: readonly string[]): Promise<string[]> {
    const keep = new Set(names);
    const removed: string[] = [];
    for (const { entry } of [...this.known.values()]) {
      if (!entry.active || keep.has(entry.name)) continue;
      await this.register({ ...entry, active: false, updatedAt: new Date().toISOString() });
      removed.push(entry.name);
    }
    return removed;
  }

  /** Also true for a route's cancelOn types: it watches them without a delivery of its own. */
  hasSubscribers(type: string): boolean {
    for (const { entry, matches, governed } of this.known.values())
      if (entry.active && (matches(type) || governed?.watches(type) === true)) return true;
    return false;
  }

  subscribersOf(type: string): string[] {
    const names: string[] = [];
    for (const { entry, matches } of this.known.values())
      if (entry.active && matches(type)) names.push(entry.name);
    return names;
  }

  /** Every route known, active or not. */
  routes(): RegisteredRoute[] {
    return [...this.known.values()].map(({ entry }) => entry);
  }

  /** The active routes with governor options. */
  governed(): GovernedRoute[] {
    const routes: GovernedRoute[] = [];
    for (const { entry, governed } of this.known.values())
      if (entry.active && governed !== undefined) routes.push(governed);
    return routes;
  }

  async close(): Promise<void> {
    this.stopWatching?.();
    await this.watching;
  }

  private remember(entry: RegisteredRoute): Known {
    const known: Known = {
      entry,
      matches: compilePatterns(entry.types),
      governed:
        entry.governor === undefined
          ? undefined
          : governedRoute(entry.name, entry.types, entry.governor),
    };
    this.known.set(entry.name, known);
    return known;
  }
}
