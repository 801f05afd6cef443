// Prometheus metrics of the operator process: per-controller reconcile
// outcomes and durations, work queue depth/latency/retries, informer errors,
// leadership, events recorded, and the Kubernetes REST client's requests
// (named like client-go's, so writes per reconcile can be counted).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileDuration: Histogram<'controller'>;
  readonly queueDepth: Gauge<'name'>;
  readonly queueLatency: Histogram<'name'>;
  readonly queueRetries: Counter<'name'>;
  readonly informerErrors: Counter<'resource'>;
  readonly isLeader: Gauge;
  readonly eventsTotal: Counter<'type' | 'reason'>;
  readonly reconcileFailures: Counter<'controller' | 'reason'>;
  readonly statusWriteFailures: Counter<'controller'>;
  readonly restRequests: Counter<'verb' | 'resource' | 'code'>;
  readonly restLatency: Histogram<'verb' | 'resource'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.reconcileTotal = new Counter({
      name: 'ymera_reconcile_total',
      help: 'Reconciles by controller and result (success, error, requeue).',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'ymera_reconcile_errors_total',
      help: 'Reconciles that ended in an error, by controller.',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'ymera_reconcile_duration_seconds',
      help: 'Time spent in one reconcile, by controller.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'ymera_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      labelNames: ['name'],
      registers,
    });
    this.queueLatency = new Histogram({
      name: 'ymera_workqueue_queue_duration_seconds',
      help: 'Time a key waited in the queue before a worker picked it up.',
      labelNames: ['name'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
      registers,
    });
    this.queueRetries = new Counter({
      name: 'ymera_workqueue_retries_total',
      help: 'Keys requeued with backoff after an error.',
      labelNames: ['name'],
      registers,
    });
    this.informerErrors = new Counter({
      name: 'ymera_informer_errors_total',
      help: 'List or watch failures, by resource.',
      labelNames: ['resource'],
      registers,
    });
    this.isLeader = new Gauge({
      name: 'ymera_leader_is_leader',
      help: '1 while this replica holds the leader lease.',
      registers,
    });
    this.eventsTotal = new Counter({
      name: 'ymera_events_total',
      help: 'Kubernetes Events recorded, by type and reason.',
      labelNames: ['type', 'reason'],
      registers,
    });
    this.reconcileFailures = new Counter({
      name: 'ymera_reconcile_failures_total',
      help: 'Failed reconciles by controller and failure reason (the reason written to the Ready condition).',
      labelNames: ['controller', 'reason'],
      registers,
    });
    this.statusWriteFailures = new Counter({
      name: 'ymera_status_write_failures_total',
      help: 'Failures to write a failed reconcile to the object status (logged; the key is retried with backoff).',
      labelNames: ['controller'],
      registers,
    });
    this.restRequests = new Counter({
      name: 'rest_client_requests_total',
      help: 'Requests to the Kubernetes API server, by verb (GET, LIST, WATCH, CREATE, UPDATE, PATCH, APPLY, DELETE), resource (with subresource) and HTTP code (<error> when none came back).',
      labelNames: ['verb', 'resource', 'code'],
      registers,
    });
    this.restLatency = new Histogram({
      name: 'rest_client_request_duration_seconds',
      help: 'Time from sending a request to the Kubernetes API server to its response headers, by verb and resource.',
      labelNames: ['verb', 'resource'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
  }

  /** Records one request of the Kubernetes client (wire with client.onRequest). */
  observeRequest(r: { verb: string; resource: string; code: string; seconds: number }): void {
    this.restRequests.inc({ verb: r.verb, resource: r.resource, code: r.code });
    this.restLatency.observe({ verb: r.verb, resource: r.resource }, r.seconds);
  }
}
