// What a config says about where an agent's model lives: a tagged union, one variant per provider.

export interface AnthropicProviderOptions {
  kind: 'anthropic';
  /** The name its limits (`governor.providers`) and circuit go by. Default: see providerName. */
  name?: string;
  /** Prefer `apiKeyEnv`: a key written in the config ends up in version control. */
  apiKey?: string;
  /** The environment variable holding the key. Default `ANTHROPIC_API_KEY`. */
  apiKeyEnv?: string;
  /** Default https://api.anthropic.com (or ANTHROPIC_BASE_URL). */
  baseURL?: string;
  /** Retries in process for 429, 408/409 and 5xx. Default 4. */
  maxRetries?: number;
  /** Longest retry-after honoured in process; longer ones retry the run later. Default 60 s. */
  maxRetryWaitMs?: number;
  /** One model call's timeout. Default 10 minutes. */
  requestTimeoutMs?: number;
}

export interface OpenAIProviderOptions {
  kind: 'openai';
  /** The name its limits (`governor.providers`) and circuit go by. Default: see providerName. */
  name?: string;
  /** e.g. `http://127.0.0.1:11434/v1` (Ollama). Default https://api.openai.com/v1. */
  baseURL?: string;
  /** Prefer `apiKeyEnv`: a key written in the config ends up in version control. */
  apiKey?: string;
  /** The environment variable holding the key. Default `OPENAI_API_KEY`; optional with a baseURL. */
  apiKeyEnv?: string;
  /** Stream responses (SSE). Default false: not every compatible server reports usage when streaming. */
  stream?: boolean;
  /**
   * Which request field caps output. OpenAI's newer models only take `max_completion_tokens`;
   * many compatible servers only know `max_tokens`. Default: the former without a baseURL, the
   * latter with one.
   */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /** Extra headers on every request, e.g. OpenRouter's `HTTP-Referer` and `X-Title`. */
  headers?: Record<string, string>;
  /** Retries in process for 429, 408/409 and 5xx. Default 4. */
  maxRetries?: number;
  /** Longest retry-after honoured in process; longer ones retry the run later. Default 60 s. */
  maxRetryWaitMs?: number;
  /** One model call's timeout. Default 10 minutes. */
  requestTimeoutMs?: number;
}

/** A CLI agent (`claude -p`, `codex exec`, ...) run as a child process in the workspace. */
export interface CommandProviderOptions {
  kind: 'command';
  /** The program, found on PATH or given as a path. */
  command: string;
  /** Arguments; an argument containing `{prompt}` gets the prompt there, else it goes to stdin. */
  args?: string[];
  /** `json`: stdout is one JSON document (the last line is tried too). Default `text`. */
  output?: 'json' | 'text';
  /** Added to a minimal environment (PATH, HOME, LANG, ...): pass the CLI's key here. */
  env?: Record<string, string>;
  /** Largest stdout (and stderr) kept; past it the program is stopped and the run fails. Default 1 MiB. */
  maxOutputBytes?: number;
  /** Grace between SIGTERM and SIGKILL on timeout. Default 5 s. */
  killGraceMs?: number;
}

export type ProviderOptions =
  | 'anthropic'
  | 'openai'
  | AnthropicProviderOptions
  | OpenAIProviderOptions
  | CommandProviderOptions;

export type ResolvedProviderOptions =
  AnthropicProviderOptions | OpenAIProviderOptions | CommandProviderOptions;

export function resolveProvider(provider: ProviderOptions): ResolvedProviderOptions {
  return typeof provider === 'string' ? { kind: provider } : provider;
}

/**
 * The name a model API goes by in `governor.providers` and in circuits: its `name` option, else
 * its kind ('anthropic', 'openai') for the vendor's own endpoint, else the host of its baseURL
 * ('127.0.0.1:11434'). Agents with the same name share one set of limits and one breaker.
 */
export function providerName(provider: AnthropicProviderOptions | OpenAIProviderOptions): string {
  if (provider.name !== undefined) return provider.name;
  if (provider.baseURL === undefined) return provider.kind;
  try {
    return new URL(provider.baseURL).host;
  } catch {
    return provider.baseURL;
  }
}
