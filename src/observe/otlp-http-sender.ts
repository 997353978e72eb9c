// POSTs OTLP/HTTP request bodies (protobuf or JSON) to an OpenTelemetry collector (usually
// http://host:4318/v1/traces) over keep-alive connections. Answers the collector may recover from
// (429, 502, 503, 504, a dropped connection) are retried with backoff, or after its Retry-After;
// a body that still fails rejects, with what the collector said.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { OTLP_PROTOCOLS, type OtlpProtocol } from './otlp-body.js';

const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_ATTEMPTS = 5;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;

export interface OtlpHttpOptions {
  /** The collector's traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  url: string;
  headers?: Record<string, string>;
  /**
   * The bodies' encoding. Default 'http/protobuf', OTLP/HTTP's own default (a third of the bytes
   * of 'http/json').
   */
  protocol?: OtlpProtocol;
  /** One request's time limit. Default 10 s. */
  timeoutMs?: number;
}

export class OtlpHttpSender {
  readonly protocol: OtlpProtocol;
  private readonly url: URL;
  private readonly contentType: string;
  private readonly agent: HttpAgent;
  private readonly stopping = new AbortController();

  constructor(private readonly options: OtlpHttpOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:')
      throw new Error(`observe.otlp.url must be an http(s) URL, got ${options.url}`);
    this.protocol = options.protocol ?? 'http/protobuf';
    if (!OTLP_PROTOCOLS.includes(this.protocol))
      throw new Error(
        `observe.otlp.protocol must be ${OTLP_PROTOCOLS.join(' or ')}, got ${String(this.protocol)}`,
      );
    this.contentType =
      this.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
    this.agent =
      this.url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 4 })
        : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  }

  /** From now on a body gets one attempt: a stopping daemon waits for no collector that is down. */
  stopRetrying(): void {
    this.stopping.abort();
  }

  /** Closes the connections (after the last post). */
  close(): void {
    this.agent.destroy();
  }

  /**
   * Sends one request body, retrying what may recover; rejects once it gives up. Either way the
   * body is no longer read when it settles.
   */
  async post(body: Buffer): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      let waitMs: number | undefined;
      try {
        const response = await this.send(body);
        if (response.status >= 200 && response.status < 300) return;
        reason = `answered HTTP ${response.status}`;
        if (!RETRYABLE.has(response.status))
          throw new Error(`OTLP collector at ${this.url.href} ${reason}`);
        waitMs = response.retryAfterMs;
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
        reason = `could not be reached: ${error.message}`;
      }
      if (attempt >= MAX_ATTEMPTS || this.stopping.signal.aborted)
        throw new Error(`OTLP collector at ${this.url.href} ${reason} (${attempt} attempts)`);
      const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1));
      await this.sleep(Math.min(MAX_BACKOFF_MS, waitMs ?? backoff * (0.5 + Math.random() / 2)));
    }
  }

  /** One attempt; settles once the request is closed, when nothing reads `body` any more. */
  private send(body: Buffer): Promise<{ status: number; retryAfterMs?: number }> {
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let answer: { status: number; retryAfterMs?: number } | undefined;
      const req = request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            ...this.options.headers,
            'content-type': this.contentType,
            'content-length': body.length,
          },
          timeout: this.options.timeoutMs ?? 10_000,
        },
        (res: IncomingMessage) => {
          res.resume();
          res.on('error', (error) => reject(new NetworkError(error.message)));
          res.on('end', () => {
            const retryAfter = Number(res.headers['retry-after']);
            answer = {
              status: res.statusCode ?? 0,
              ...(Number.isFinite(retryAfter) && retryAfter >= 0
                ? { retryAfterMs: retryAfter * 1_000 }
                : {}),
            };
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => reject(new NetworkError(error.message)));
      // After 'close' the socket holds no part of the body: the batcher may write the next into it.
      req.on('close', () =>
        answer === undefined
          ? reject(new NetworkError('the connection closed before an answer'))
          : resolve(answer),
      );
      req.end(body);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.stopping.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
}

/** The request never got an answer: worth another try. */
class NetworkError extends Error {}
