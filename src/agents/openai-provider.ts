// Any OpenAI-compatible Chat Completions endpoint through the `openai` SDK: OpenAI itself, or a
// baseURL for Ollama, vLLM, LM Studio, OpenRouter and the like.
import OpenAI from 'openai';
import type { Logger } from '../observe/log.js';
import { resolveApiKey } from './api-key.js';
import type {
  AssistantBlock,
  CallOptions,
  Message,
  ModelProvider,
  ModelRequest,
  ModelResponse,
  StopReason,
} from './conversation.js';
import { callWithRetries, estimateTokens, retryPolicyFor } from './provider-retry.js';
import { providerName, type OpenAIProviderOptions } from './provider-options.js';
import { sdkClientOptions } from './sdk-logger.js';

type ChatMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type Params = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;

export function createOpenAIProvider(options: OpenAIProviderOptions, log: Logger): ModelProvider {
  const apiKey = resolveApiKey('openai', options, 'OPENAI_API_KEY', {
    placeholderForBaseURL: true,
  });
  const client = new OpenAI({
    apiKey,
    ...sdkClientOptions(options, log),
    ...(options.headers === undefined ? {} : { defaultHeaders: options.headers }),
  });
  const policy = retryPolicyFor(options);
  const name = providerName(options);
  const maxTokensField =
    options.maxTokensField ??
    (options.baseURL === undefined ? 'max_completion_tokens' : 'max_tokens');
  return {
    kind: 'openai',
    async complete(request: ModelRequest, call: CallOptions): Promise<ModelResponse> {
      const params: Params = {
        model: request.model,
        messages: toOpenAIMessages(request.system, request.messages),
        [maxTokensField]: request.maxOutputTokens,
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        ...(request.tools.length === 0
          ? {}
          : {
              tools: request.tools.map((tool) => ({
                type: 'function' as const,
                function: {
                  name: tool.name,
                  description: tool.description,
                  parameters: tool.inputSchema,
                },
              })),
            }),
      };
      const completion = await callWithRetries(
        'openai',
        (): Promise<OpenAI.Chat.Completions.ChatCompletion> =>
          options.stream === true
            ? client.chat.completions
                .stream(
                  { ...params, stream: true, stream_options: { include_usage: true } },
                  { signal: call.signal },
                )
                .finalChatCompletion()
            : client.chat.completions.create(params, { signal: call.signal }),
        {
          policy,
          sdk: OpenAI,
          signal: call.signal,
          ...(call.log ? { log: call.log } : {}),
          governed: {
            name,
            estimatedTokens: estimateTokens(request),
            // Servers that report no usage are charged the estimate.
            tokensOf: (c) => c.usage?.total_tokens ?? estimateTokens(request),
          },
        },
      );
      return fromCompletion(completion);
    },
  };
}

function toOpenAIMessages(system: string | undefined, messages: readonly Message[]): ChatMessage[] {
  const out: ChatMessage[] = system === undefined ? [] : [{ role: 'system', content: system }];
  for (const message of messages) {
    if (message.role === 'assistant') {
      const text = message.content
        .filter((b) => b.type === 'text')
        .map((b) => b.text)
        .join('\n');
      const calls = message.content.filter((b) => b.type === 'tool_use');
      out.push({
        role: 'assistant',
        content: text === '' ? null : text,
        ...(calls.length === 0
          ? {}
          : {
              tool_calls: calls.map((c) => ({
                id: c.id,
                type: 'function' as const,
                function: {
                  name: c.name,
                  arguments: typeof c.input === 'string' ? c.input : JSON.stringify(c.input),
                },
              })),
            }),
      });
      continue;
    }
    // Tool results are messages of their own here, and must directly follow the assistant's calls.
    for (const block of message.content) {
      if (block.type === 'tool_result') {
        out.push({
          role: 'tool',
          tool_call_id: block.toolUseId,
          content: block.isError ? `Error: ${block.content}` : block.content,
        });
      }
    }
    const text = message.content
      .filter((b) => b.type === 'text')
      .map((b) => b.text)
      .join('\n');
    if (text !== '') out.push({ role: 'user', content: text });
  }
  return out;
}

function fromCompletion(completion: OpenAI.Chat.Completions.ChatCompletion): ModelResponse {
  const choice = completion.choices[0];
  const content: AssistantBlock[] = [];
  const text = choice?.message.content;
  if (typeof text === 'string' && text !== '') content.push({ type: 'text', text });
  for (const [index, call] of (choice?.message.tool_calls ?? []).entries()) {
    if (call.type !== 'function') continue;
    content.push({
      type: 'tool_use',
      // Some compatible servers leave ids out; the turn is stored, so a made-up one stays stable.
      id: call.id === '' ? `call_${index}` : call.id,
      name: call.function.name,
      input: parseArguments(call.function.arguments),
    });
  }
  const usage = completion.usage;
  const cached = usage?.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    content,
    stopReason: stopReasonOf(choice?.finish_reason, content),
    usage: {
      inputTokens: Math.max(0, (usage?.prompt_tokens ?? 0) - cached),
      outputTokens: usage?.completion_tokens ?? 0,
      cacheReadTokens: cached,
      cacheWriteTokens: 0,
    },
    model: completion.model,
  };
}

/** Models sometimes send malformed JSON; the raw string is kept so the tool can say what is wrong. */
function parseArguments(raw: string): unknown {
  if (raw.trim() === '') return {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function stopReasonOf(reason: string | undefined, content: AssistantBlock[]): StopReason {
  // Several local servers answer tool calls with finish_reason "stop"; the calls are what count.
  if (content.some((b) => b.type === 'tool_use')) return 'tool_use';
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end';
  }
}
