// The runtime's Prometheus metrics. The first two names and their labels are
// the contract with the SLO rules (operator/prometheus/generators/inferenceservice.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  INFERENCE_REQUESTS_TOTAL,
  INFERENCE_REQUEST_DURATION,
} from '../operator/prometheus/generators/inferenceservice.ts';
import { LatencyWindow } from './window.ts';

// Per-pod metrics the InferenceService HPA reads (controllers/inferenceservice/desired.ts HPA_METRICS).
export const REQUESTS_IN_FLIGHT = 'ymera_inference_requests_in_flight';
export const P95_LATENCY_MS = 'ymera_inference_request_p95_latency_milliseconds';
const P95_WINDOW_MS = 60_000;
/**
 * The batching this pod has taken from its config (after a live reload too): a change
 * is live on a service when every ready pod reports it. The OptimizationLoop
 * relies on these names.
 */
export const BATCHING_MAX_BATCH_SIZE = 'ymera_runtime_batching_max_batch_size';
export const BATCHING_MAX_DELAY_MS = 'ymera_runtime_batching_max_delay_ms';

export type Labels = { namespace: string; inferenceservice: string; revision: string };

// Fine buckets below 25 ms (the runtime's usual range) and the SLO range up to 1 s+.
export const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5,
];
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export function createMetrics(
  labels: Labels,
  sources: {
    queued: () => number;
    inFlight: () => number;
    requestsInFlight: () => number;
    /** The batcher's limits; undefined before the model is loaded (no sample then). */
    batching?: () => { maxBatchSize: number; maxDelayMs: number } | undefined;
  },
) {
  const registry = new Registry();
  registry.setDefaultLabels({});
  collectDefaultMetrics({ register: registry, prefix: 'ymera_runtime_' });
  const names = ['namespace', 'inferenceservice', 'revision'] as const;
  const requests = new Counter({
    name: INFERENCE_REQUESTS_TOTAL,
    help: 'Inference requests answered, by HTTP status code.',
    labelNames: [...names, 'code'],
    registers: [registry],
  });
  // Exported at 0 from start-up so that rate() sees the first error.
  requests.inc({ ...labels, code: '200' }, 0);
  requests.inc({ ...labels, code: '500' }, 0);
  const duration = new Histogram({
    name: INFERENCE_REQUEST_DURATION,
    help: 'Inference request latency in seconds, body read to response written.',
    labelNames: names,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  duration.zero(labels);
  const batchSize = new Histogram({
    name: 'ymera_inference_batch_size',
    help: 'Rows per session run (dynamic batching).',
    labelNames: names,
    buckets: BATCH_BUCKETS,
    registers: [registry],
  });
  const batchRequests = new Histogram({
    name: 'ymera_inference_batch_requests',
    help: 'Requests merged into one session run.',
    labelNames: names,
    buckets: BATCH_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'ymera_inference_queue_depth',
    help: 'Requests waiting for a batch slot.',
    labelNames: names,
    registers: [registry],
    collect() {
      this.set(labels, sources.queued());
    },
  });
  new Gauge({
    name: 'ymera_inference_batches_in_flight',
    help: 'Session runs in progress.',
    labelNames: names,
    registers: [registry],
    collect() {
      this.set(labels, sources.inFlight());
    },
  });
  new Gauge({
    name: REQUESTS_IN_FLIGHT,
    help: 'Inference requests being handled (HPA concurrency metric).',
    labelNames: names,
    registers: [registry],
    collect() {
      this.set(labels, sources.requestsInFlight());
    },
  });
  const limit = (
    name: string,
    help: string,
    pick: (b: { maxBatchSize: number; maxDelayMs: number }) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: names,
      registers: [registry],
      collect() {
        const b = sources.batching?.();
        if (b) this.set(labels, pick(b));
        else this.reset();
      },
    });
  limit(
    BATCHING_MAX_BATCH_SIZE,
    'Most rows per session run, as configured for this pod now (its config file, applied live; a model without a batch dimension runs unbatched).',
    (b) => b.maxBatchSize,
  );
  limit(
    BATCHING_MAX_DELAY_MS,
    'Longest a request waits for a batch, in milliseconds, as configured for this pod now (its config file, applied live).',
    (b) => b.maxDelayMs,
  );
  const latencies = new LatencyWindow({ windowMs: P95_WINDOW_MS });
  new Gauge({
    name: P95_LATENCY_MS,
    help: 'p95 inference latency over the last minute, in milliseconds (HPA latency metric).',
    labelNames: names,
    registers: [registry],
    collect() {
      this.set(labels, latencies.quantile(0.95));
    },
  });
  const loadSeconds = new Gauge({
    name: 'ymera_inference_model_load_seconds',
    help: 'Time to fetch, verify, load and warm the model.',
    labelNames: names,
    registers: [registry],
  });
  const ready = new Gauge({
    name: 'ymera_inference_model_ready',
    help: '1 when the model is loaded and warmed and the runtime is not draining.',
    labelNames: names,
    registers: [registry],
  });
  ready.set(labels, 0);
  const logSent = new Counter({
    name: 'ymera_inference_request_log_sent_total',
    help: 'Request/response log records delivered to Kafka.',
    labelNames: names,
    registers: [registry],
  });
  const logDropped = new Counter({
    name: 'ymera_inference_request_log_dropped_total',
    help: 'Request/response log records dropped (buffer full or Kafka failure).',
    labelNames: [...names, 'reason'],
    registers: [registry],
  });
  return {
    registry,
    request(code: number, seconds: number | undefined) {
      requests.inc({ ...labels, code: String(code) });
      if (seconds !== undefined) {
        duration.observe(labels, seconds);
        latencies.add(seconds * 1000);
      }
    },
    batch(rows: number, n: number) {
      batchSize.observe(labels, rows);
      batchRequests.observe(labels, n);
    },
    loaded(seconds: number) {
      loadSeconds.set(labels, seconds);
    },
    setReady(on: boolean) {
      ready.set(labels, on ? 1 : 0);
    },
    logSent(n: number) {
      logSent.inc(labels, n);
    },
    logDropped(reason: string, n: number) {
      logDropped.inc({ ...labels, reason }, n);
    },
  };
}

export type RuntimeMetrics = ReturnType<typeof createMetrics>;
