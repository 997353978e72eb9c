// Turns the config's `sources` entries into Source instances. Adding a kind is one factory in
// FACTORIES; the mapped type makes a kind without a factory a compile error.
import type { SourceConfig, SourceConfigOf, SourceKind } from '../core/source-config.js';
import { sourceName } from '../core/source-config.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../observe/log.js';
import { createCronSource, createFsSource, createProcessSource } from './create-local-sources.js';
import { resolveSecrets } from './secret-value.js';
import type { Source } from './source.js';
import { GithubWebhookSource } from './webhook/github/github-webhook-source.js';
import { SlackWebhookSource } from './webhook/slack/slack-webhook-source.js';
import {
  StandardWebhookSource,
  standardVerifiers,
} from './webhook/standard/standard-webhook-source.js';

export interface SourceContext {
  /** The entry's config path, e.g. "sources[0]", for error messages. */
  path: string;
  /** The source's name (its `name`, else its kind). */
  name: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** This harness's name, stamped as `origin`. */
  node: string;
  /** The config file's directory: relative paths (fs watches, process cwd) are read from it. */
  baseDir?: string | undefined;
  /** agentd's data directory, which file watches leave out. */
  dataDir?: string | undefined;
  /** Time for schedules, debounce and backoff; real time unless a test injects its own. */
  clock?: Clock | undefined;
}

export type SourceFactory<C> = (config: C, context: SourceContext) => Source;

const FACTORIES: { [K in SourceKind]: SourceFactory<SourceConfigOf<K>> } = {
  cron: createCronSource,
  fs: createFsSource,
  process: createProcessSource,
  github: (config, { path, name, env, log, node }) =>
    new GithubWebhookSource({
      name,
      secrets: resolveSecrets(config.secret, `${path}.secret`, env),
      log,
      node,
      ...(config.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: config.bodyLimitBytes }),
    }),
  slack: (config, { path, name, env, log, node }) =>
    new SlackWebhookSource({
      name,
      signingSecrets: resolveSecrets(config.signingSecret, `${path}.signingSecret`, env),
      log,
      node,
      ...(config.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: config.bodyLimitBytes }),
    }),
  webhook: (config, { path, name, env, log, node }) =>
    new StandardWebhookSource({
      name,
      verifiers:
        config.secret === undefined
          ? []
          : standardVerifiers(
              resolveSecrets(config.secret, `${path}.secret`, env),
              `${path}.secret`,
            ),
      insecure: config.insecure === true,
      type: config.type ?? `webhook.${name}.{{type}}`,
      log,
      node,
      ...(config.key === undefined ? {} : { key: config.key }),
      ...(config.dataschema === undefined ? {} : { dataschema: config.dataschema }),
      ...(config.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: config.bodyLimitBytes }),
    }),
};

/** Builds every configured source; secrets given as { env } are read here, at start. */
export function createSources(
  configs: readonly SourceConfig[],
  context: Omit<SourceContext, 'path' | 'name'>,
): Source[] {
  return configs.map((config, index) => {
    const factory = FACTORIES[config.kind] as SourceFactory<SourceConfig>;
    return factory(config, { ...context, path: `sources[${index}]`, name: sourceName(config) });
  });
}
