// Sampled request/response logging to Kafka. The request path only calls
// offer(): a sampling decision and a push into a bounded buffer, never I/O
// and never a throw. A background loop sends the buffer in batches; when the
// buffer is full or Kafka fails, records are dropped and counted.
import type { KafkaProducer, OutgoingMessage } from '../operator/kafka/client.ts';
import type { Logger } from '../operator/logger.ts';

/** Metadata plus the request and response bodies as raw JSON text (spliced in when sent). */
export type LogRecord = { meta: Record<string, unknown>; request: string; response: string };

/** The Kafka message value: meta's fields plus "request" and "response" as JSON, not strings. */
export function recordValue(r: LogRecord): string {
  const meta = JSON.stringify(r.meta);
  return `${meta.slice(0, -1)}${meta === '{}' ? '' : ','}"request":${r.request},"response":${r.response}}`;
}

/** Pure: the sampled, bounded buffer. */
export class LogBuffer {
  readonly #capacity: number;
  readonly #sampleRate: number;
  readonly #random: () => number;
  #items: LogRecord[] = [];
  dropped = 0;

  constructor(options: { capacity: number; sampleRate: number; random?: () => number }) {
    this.#capacity = options.capacity;
    this.#sampleRate = options.sampleRate;
    this.#random = options.random ?? Math.random;
  }

  /** Whether this request is logged (decide before building the record: it costs). */
  sample(): boolean {
    return this.#sampleRate >= 1 || (this.#sampleRate > 0 && this.#random() < this.#sampleRate);
  }

  /** False (and counted) when the buffer is full: the newest record is the one dropped. */
  push(record: LogRecord): boolean {
    if (this.#items.length >= this.#capacity) {
      this.dropped++;
      return false;
    }
    this.#items.push(record);
    return true;
  }

  take(max: number): LogRecord[] {
    return this.#items.splice(0, max);
  }

  get size(): number {
    return this.#items.length;
  }
}

export type RequestLoggerOptions = {
  producer: KafkaProducer;
  topic: string;
  buffer: LogBuffer;
  logger: Logger;
  onSent: (n: number) => void;
  onDropped: (reason: string, n: number) => void;
  /** Records per send; default 200. */
  batchSize?: number;
  /** Pause between sends when the buffer is not full enough; default 100 ms. */
  intervalMs?: number;
};

export class RequestLogger {
  readonly #o: Required<RequestLoggerOptions>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sending: Promise<void> | undefined;
  #closed = false;

  constructor(options: RequestLoggerOptions) {
    this.#o = { batchSize: 200, intervalMs: 100, ...options };
    this.#schedule();
  }

  sample(): boolean {
    return !this.#closed && this.#o.buffer.sample();
  }

  offer(record: LogRecord): void {
    if (!this.#o.buffer.push(record)) this.#o.onDropped('buffer_full', 1);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#sending = this.#flushOnce().finally(() => {
        this.#sending = undefined;
        this.#schedule();
      });
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  async #flushOnce(): Promise<void> {
    while (this.#o.buffer.size > 0) {
      const records = this.#o.buffer.take(this.#o.batchSize);
      const messages: OutgoingMessage[] = records.map((r) => ({
        ...(typeof r.meta.id === 'string' ? { key: r.meta.id } : {}),
        value: recordValue(r),
      }));
      try {
        await this.#o.producer.send(this.#o.topic, messages);
        this.#o.onSent(messages.length);
      } catch (e) {
        this.#o.onDropped('kafka_error', messages.length);
        this.#o.logger.warn('request log send failed; records dropped', {
          records: messages.length,
          error: (e as Error).message,
        });
        return;
      }
    }
  }

  /** Stops sampling and sends what is buffered, within timeoutMs. */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const flush = (async () => {
      await this.#sending;
      await this.#flushOnce();
    })();
    await Promise.race([flush, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
}
