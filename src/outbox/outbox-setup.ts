// From the config's `outbox` section to what the daemon runs: the policy ctx.outbox records under,
// the sinks (secrets resolved at start, so a missing one fails the start and names its field), the
// per-sink gate and the dispatcher's settings.
import type { Bus } from '../bus/bus.js';
import type { OutboxStore } from '../bus/outbox-store.js';
import type { OutboxConfig, RateLimitConfig } from '../core/outbox-config.js';
import type { SecretInput } from '../core/source-fields.js';
import type { CircuitRegistry } from '../governor/circuit-breaker-registry.js';
import type { Logger } from '../observe/log.js';
import type { OutboxObserver } from '../observe/outbox-observer.js';
import { resolveSecrets } from '../sources/secret-value.js';
import { DEFAULT_APPROVAL_EXPIRY_MS, type OutboxPolicy } from './action-recorder.js';
import { createDispatcher, type Dispatcher } from './dispatcher.js';
import { SinkGate, type SinkLimits } from './sink-gate.js';
import type { Sink } from './sink.js';
import { BusSink } from './sinks/bus-sink.js';
import { GithubSink } from './sinks/github-sink.js';
import { HttpSink, type HttpTarget } from './sinks/http-sink.js';
import { SlackSink } from './sinks/slack-sink.js';

/** Defaults kept under what each service tolerates for writes (GitHub's secondary limits, Slack's 1/s). */
const DEFAULT_RATES: Record<string, RateLimitConfig> = {
  github: { perSecond: 1, burst: 20 },
  slack: { perSecond: 1, burst: 10 },
  http: { perSecond: 20, burst: 50 },
};
const DEFAULT_SINK_CONCURRENCY = 4;

export interface OutboxSetup {
  policy: Omit<OutboxPolicy, 'recordable'>;
  /** Sends: the bus sink is added once the bus is open. */
  sinks: Map<string, Sink>;
  limits: Map<string, SinkLimits>;
  timeouts: Map<string, number>;
  config: OutboxConfig;
}

export function prepareOutbox(
  config: OutboxConfig | undefined,
  env: NodeJS.ProcessEnv,
): OutboxSetup {
  const outbox = config ?? {};
  const secret = (input: SecretInput, path: string) =>
    resolveSecrets(input, `outbox.${path}`, env)[0] as string;
  const sinks = new Map<string, Sink>();
  const limits = new Map<string, SinkLimits>();
  const timeouts = new Map<string, number>();
  const limit = (
    name: string,
    fields: {
      rateLimit?: RateLimitConfig | undefined;
      concurrency?: number | undefined;
      timeoutMs?: number | undefined;
    },
  ) => {
    limits.set(name, {
      rate: fields.rateLimit ?? DEFAULT_RATES[name],
      concurrency: fields.concurrency ?? DEFAULT_SINK_CONCURRENCY,
    });
    if (fields.timeoutMs !== undefined) timeouts.set(name, fields.timeoutMs);
  };

  const { github, slack, http } = outbox;
  if (github !== undefined) {
    sinks.set(
      'github',
      new GithubSink({
        auth:
          github.kind === 'token'
            ? { kind: 'token', token: secret(github.token, 'github.token') }
            : {
                kind: 'app',
                appId: github.appId,
                privateKey: secret(github.privateKey, 'github.privateKey'),
                ...(github.installationId === undefined
                  ? {}
                  : { installationId: github.installationId }),
              },
        baseUrl: github.baseUrl,
      }),
    );
    limit('github', github);
  }
  if (slack !== undefined) {
    sinks.set(
      'slack',
      new SlackSink({
        token: secret(slack.token, 'slack.token'),
        apiUrl: slack.apiUrl,
        timeoutMs: slack.timeoutMs ?? 30_000,
      }),
    );
    limit('slack', slack);
  }
  if (http !== undefined) {
    const targets = new Map<string, HttpTarget>();
    for (const [name, target] of Object.entries(http.targets)) {
      targets.set(name, {
        url: target.url,
        headers: target.headers,
        secret:
          target.secret === undefined
            ? undefined
            : secret(target.secret, `http.targets.${name}.secret`),
      });
    }
    sinks.set('http', new HttpSink(targets));
    limit('http', http);
  }
  limits.set('bus', { concurrency: 64 });

  return {
    policy: outboxPolicy(config),
    sinks,
    limits,
    timeouts,
    config: outbox,
  };
}

/** What ctx.outbox may record under this config (no secrets needed: worker processes use it too). */
export function outboxPolicy(config: OutboxConfig | undefined): Omit<OutboxPolicy, 'recordable'> {
  const sinks = new Set<string>(['bus']);
  if (config?.github !== undefined) sinks.add('github');
  if (config?.slack !== undefined) sinks.add('slack');
  if (config?.http !== undefined) sinks.add('http');
  return {
    sinks,
    httpTargets: new Set(Object.keys(config?.http?.targets ?? {})),
    dryRun: config?.dryRun === true,
    approvalExpiresInMs: config?.approval?.expiresInMs ?? DEFAULT_APPROVAL_EXPIRY_MS,
  };
}

/**
 * The daemon's dispatcher over the bus's outbox store, with the bus sink added; with `circuits`,
 * each sink has a circuit breaker (kind 'sink', named like the sink).
 */
export function dispatcherFor(
  setup: OutboxSetup,
  store: OutboxStore,
  bus: Pick<Bus, 'publish'>,
  options: {
    log: Logger;
    source: string;
    circuits?: CircuitRegistry | undefined;
    observer?: OutboxObserver | undefined;
  },
): Dispatcher {
  const sinks = new Map(setup.sinks);
  sinks.set('bus', new BusSink(bus));
  const { config } = setup;
  const backoff = config.backoff;
  return createDispatcher({
    store,
    sinks,
    gate: new SinkGate(setup.limits),
    ...(options.circuits === undefined ? {} : { circuits: options.circuits }),
    log: options.log,
    source: options.source,
    observer: options.observer,
    sinkTimeoutMs: setup.timeouts,
    ...(config.concurrency === undefined ? {} : { concurrency: config.concurrency }),
    ...(config.maxAttempts === undefined ? {} : { maxAttempts: config.maxAttempts }),
    ...(backoff === undefined
      ? {}
      : {
          backoff: {
            initialMs: backoff.initialMs ?? 1_000,
            maxMs: backoff.maxMs ?? 10 * 60_000,
            factor: backoff.factor ?? 2,
          },
        }),
  });
}
