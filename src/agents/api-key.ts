// Where a provider's API key comes from: the config, else an environment variable. The key itself
// never appears in a message, a log line or a stored step.
import { ValidationError } from '../core/errors.js';

export interface ApiKeySource {
  apiKey?: string;
  apiKeyEnv?: string;
  baseURL?: string;
}

/**
 * The key to send. Local OpenAI-compatible servers (Ollama, vLLM, LM Studio) ignore auth but the
 * SDK insists on a key, so a custom baseURL without one gets a placeholder.
 */
export function resolveApiKey(
  provider: string,
  source: ApiKeySource,
  defaultEnv: string,
  options: { placeholderForBaseURL?: boolean } = {},
): string {
  const env = source.apiKeyEnv ?? defaultEnv;
  const key = source.apiKey ?? process.env[env];
  if (key !== undefined && key !== '') return key;
  if (options.placeholderForBaseURL === true && source.baseURL !== undefined) return 'unused';
  throw new ValidationError(
    `${provider}: no API key: set the ${env} environment variable (or provider.apiKeyEnv / provider.apiKey)`,
  );
}

/** For the start-up check: says what is missing without throwing. */
export function missingApiKey(
  source: ApiKeySource,
  defaultEnv: string,
  placeholderForBaseURL: boolean,
): string | undefined {
  const env = source.apiKeyEnv ?? defaultEnv;
  if (source.apiKey !== undefined && source.apiKey !== '') return undefined;
  if ((process.env[env] ?? '') !== '') return undefined;
  if (placeholderForBaseURL && source.baseURL !== undefined) return undefined;
  return env;
}
