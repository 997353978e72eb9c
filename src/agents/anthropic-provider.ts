// Anthropic Messages through @anthropic-ai/sdk. Responses are streamed (SSE): the SDK refuses
// non-streaming calls that may run long, and a stream keeps idle proxies from cutting the request.
import Anthropic from '@anthropic-ai/sdk';
import type { Logger } from '../observe/log.js';
import type {
  AssistantBlock,
  CallOptions,
  Message,
  ModelProvider,
  ModelRequest,
  ModelResponse,
  StopReason,
} from './conversation.js';
import { resolveApiKey } from './api-key.js';
import { callWithRetries, estimateTokens, retryPolicyFor } from './provider-retry.js';
import { providerName, type AnthropicProviderOptions } from './provider-options.js';
import { sdkClientOptions } from './sdk-logger.js';

type Params = Anthropic.MessageCreateParamsNonStreaming;

export function createAnthropicProvider(
  options: AnthropicProviderOptions,
  log: Logger,
): ModelProvider {
  const apiKey = resolveApiKey('anthropic', options, 'ANTHROPIC_API_KEY');
  const client = new Anthropic({
    apiKey,
    ...sdkClientOptions(options, log),
  });
  const policy = retryPolicyFor(options);
  const name = providerName(options);
  return {
    kind: 'anthropic',
    async complete(request: ModelRequest, call: CallOptions): Promise<ModelResponse> {
      const params: Params = {
        model: request.model,
        max_tokens: request.maxOutputTokens,
        messages: request.messages.map(toAnthropicMessage),
        ...(request.system === undefined ? {} : { system: request.system }),
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        ...(request.tools.length === 0
          ? {}
          : {
              tools: request.tools.map((tool) => ({
                name: tool.name,
                description: tool.description,
                input_schema: tool.inputSchema as Anthropic.Tool.InputSchema,
              })),
            }),
      };
      const message = await callWithRetries(
        'anthropic',
        () => client.messages.stream(params, { signal: call.signal }).finalMessage(),
        {
          policy,
          sdk: Anthropic,
          signal: call.signal,
          ...(call.log ? { log: call.log } : {}),
          governed: { name, estimatedTokens: estimateTokens(request), tokensOf: messageTokens },
        },
      );
      return fromAnthropicMessage(message);
    },
  };
}

function toAnthropicMessage(message: Message): Anthropic.MessageParam {
  if (message.role === 'assistant') {
    return {
      role: 'assistant',
      content: message.content.map((block) =>
        block.type === 'text'
          ? { type: 'text' as const, text: block.text }
          : { type: 'tool_use' as const, id: block.id, name: block.name, input: block.input },
      ),
    };
  }
  return {
    role: 'user',
    content: message.content.map((block) =>
      block.type === 'text'
        ? { type: 'text' as const, text: block.text }
        : {
            type: 'tool_result' as const,
            tool_use_id: block.toolUseId,
            content: block.content,
            ...(block.isError ? { is_error: true } : {}),
          },
    ),
  };
}

function fromAnthropicMessage(message: Anthropic.Message): ModelResponse {
  const content: AssistantBlock[] = [];
  for (const block of message.content) {
    if (block.type === 'text') content.push({ type: 'text', text: block.text });
    else if (block.type === 'tool_use')
      content.push({ type: 'tool_use', id: block.id, name: block.name, input: block.input });
    // Thinking and server-tool blocks are not requested, so nothing else is kept.
  }
  const usage = message.usage;
  return {
    content,
    stopReason: stopReasonOf(message.stop_reason),
    usage: {
      inputTokens: usage.input_tokens,
      outputTokens: usage.output_tokens,
      cacheReadTokens: usage.cache_read_input_tokens ?? 0,
      cacheWriteTokens: usage.cache_creation_input_tokens ?? 0,
    },
    model: message.model,
  };
}

/** What the call counts against a tokens-per-minute limit: everything it read and wrote. */
function messageTokens(message: Anthropic.Message): number {
  const usage = message.usage;
  return (
    usage.input_tokens +
    usage.output_tokens +
    (usage.cache_read_input_tokens ?? 0) +
    (usage.cache_creation_input_tokens ?? 0)
  );
}

function stopReasonOf(reason: string | null): StopReason {
  switch (reason) {
    case 'tool_use':
      return 'tool_use';
    case 'max_tokens':
      return 'max_tokens';
    case 'refusal':
      return 'refusal';
    default:
      return 'end';
  }
}
