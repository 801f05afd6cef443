// Entry point of the operator process: configuration, logging, metrics and
// health endpoints, the controllers, leader election, graceful shutdown.
import type { Server } from 'node:http';
import { allReconcilers } from '../controllers/index.ts';
import { ConfigError, configHelp, parseConfig, reconcilesClusterScoped } from './config.ts';
import type { Integrations } from './integrations.ts';
import { discardEvents } from './integrations.ts';
import { EventPublisher, ensureEventTopic } from './kafka/events.ts';
import { TopicReconciler } from './kafka/topic-reconciler.ts';
import type { TopicPolicy } from './kafka/topic-policy.ts';
import { KubeClient } from './kube/client.ts';
import { detectGatewayApi } from './kube/gateway.ts';
import { PrometheusClient } from './prometheus/client.ts';
import { PrometheusRuleDetector } from './prometheus/rule-objects.ts';
import type { Logger } from './logger.ts';
import { createLogger } from './logger.ts';
import { Manager } from './manager.ts';
import { OperatorMetrics } from './metrics.ts';
import type { KafkaWriteGate } from './kafka/write-gate.ts';
import { gatedAdmin, gatedProducer } from './kafka/write-gate.ts';
import { startHealthServer, startMetricsServer } from './servers.ts';
import { tuneHeap } from './heap.ts';

async function main(): Promise<void> {
  tuneHeap();
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(configHelp());
    return;
  }
  let config;
  try {
    config = parseConfig(argv, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ymera-operator: ${e.message}\n(see --help)\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger({ level: config.logLevel, name: 'ymera-operator' });
  const metrics = new OperatorMetrics();
  const client = KubeClient.fromEnvironment(config.kubeconfig);
  client.onRequest((r) => metrics.observeRequest(r));
  logger.info('starting', {
    identity: config.identity,
    server: client.server.origin,
    leaderElect: config.leaderElect,
    watchNamespaces: config.watchNamespaces,
  });

  let shuttingDown = false;
  const servers: Server[] = [];
  const closeServers = () => Promise.all(servers.map((s) => new Promise((r) => s.close(r))));

  const manager = new Manager({
    client,
    logger,
    metrics,
    identity: config.identity,
    watchNamespaces: config.watchNamespaces,
    concurrency: config.concurrency,
    resyncSeconds: config.resyncSeconds,
    finalizeTimeoutMs: config.finalizeTimeoutSeconds * 1000,
    leaderElection: config.leaderElect
      ? {
          namespace: config.leaseNamespace,
          name: config.leaseName,
          leaseDurationSeconds: config.leaseDurationSeconds,
          renewDeadlineSeconds: config.renewDeadlineSeconds,
          retryPeriodSeconds: config.retryPeriodSeconds,
        }
      : undefined,
    // only when another replica holds the Lease; when renewals merely failed (the API
    // unreachable) the manager pauses its work and re-acquires, without a restart
    onLostLeadership: () => {
      // another replica may already be writing: exit at once, without waiting for in-flight
      // reconciles (their writes are refused anyway); the pod restarts as a candidate
      logger.error('leadership lost to another replica; exiting so that only the leader writes');
      process.exit(1);
    },
  });
  // decided once: an informer on a CRD that is not installed would never sync
  const ruleMode = await new PrometheusRuleDetector(client).resolve(config.prometheusRules);
  logger.info('prometheus rules', { mode: ruleMode, labels: config.ruleLabels });
  const gatewayApi = await detectGatewayApi(client, config.gatewayApi);
  logger.info('gateway api', { configured: config.gatewayApi, httpRoutes: gatewayApi });
  const topicPolicy: TopicPolicy = { allow: config.kafkaTopicAllow };
  logger.info('kafka topic policy', { ownPrefix: '<namespace>.', allow: config.kafkaTopicAllow });
  logger.info('backup namespace grants', { grants: config.backupNamespaceGrant });
  const kafka =
    config.kafkaBrokers.length > 0
      ? await startKafka(
          config.kafkaBrokers,
          topicPolicy,
          logger,
          metrics,
          (key) => manager.enqueue('learningpipeline', key),
          // Kafka writes stop with the lease, like the Kubernetes ones
          config.leaderElect ? () => manager.writeRefusal() : () => undefined,
        )
      : undefined;
  const integrations: Integrations = {
    rules: { mode: ruleMode, labels: config.ruleLabels },
    topics: kafka?.topics,
    topicPolicy,
    kafkaBrokers: config.kafkaBrokers,
    events: kafka?.events ?? discardEvents,
    gatewayApi,
    triggers: kafka?.triggers,
    registry: metrics.registry,
    storageAccess: {
      ambientCredentialsEndpoints: config.s3AmbientCredentialsEndpoints,
      maxReadBytes: config.s3MaxReadBytes,
      refusedCidrs: config.s3RefusedCidrs,
    },
    namespaceGrants: config.backupNamespaceGrant,
    maintenanceJobNamespaces: config.maintenanceJobNamespaces,
    prometheus: config.prometheusUrl
      ? new PrometheusClient({ url: config.prometheusUrl, breaker: PrometheusClient.breaker() })
      : undefined,
  };
  const clusterScoped = reconcilesClusterScoped(config.clusterScopedKinds, config.watchNamespaces);
  logger.info('cluster-scoped kinds', { mode: config.clusterScopedKinds, reconciled: clusterScoped });
  for (const reconciler of allReconcilers(integrations))
    if (reconciler.resource.namespaced || clusterScoped) manager.register(reconciler);

  servers.push(await startMetricsServer(config.metricsAddr, metrics.registry));
  servers.push(
    await startHealthServer(config.healthAddr, {
      live: () => !shuttingDown,
      ready: () => manager.ready(),
    }),
  );
  logger.info('serving metrics and probes', { metrics: config.metricsAddr, health: config.healthAddr });

  const shutdown = async (signal: string) => {
    if (shuttingDown) {
      logger.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    shuttingDown = true;
    logger.info('shutting down: finishing in-flight reconciles', { signal });
    await manager.stop();
    await kafka?.close();
    await closeServers();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await manager.start();
}

/**
 * Kafka clients, the topic reconciler and the event publisher (created lazily: connecting happens on first use).
 * The Kafka client library (~50 MiB of RSS) is imported only here, when brokers are configured.
 */
async function startKafka(
  brokers: string[],
  policy: TopicPolicy,
  logger: Logger,
  metrics: OperatorMetrics,
  onTrigger: (pipelineKey: string) => void,
  writeGate: KafkaWriteGate,
) {
  const [{ createKafkaClients }, { TriggerConsumers }] = await Promise.all([
    import('./kafka/platformatic.ts'),
    import('./kafka/triggers.ts'),
  ]);
  const log = logger.child({ component: 'kafka' });
  const clients = createKafkaClients({ brokers, logger: log });
  const admin = gatedAdmin(clients.admin, writeGate);
  const events = new EventPublisher({
    producer: gatedProducer(clients.producer, writeGate),
    registry: metrics.registry,
    logger: log,
    ensureTopic: ensureEventTopic(admin),
  });
  // consumers start when a LearningPipeline with a trigger is reconciled, i.e. only on the leader
  const triggers = new TriggerConsumers({
    brokers,
    logger: log.child({ component: 'triggers' }),
    onEvent: onTrigger,
    registry: metrics.registry,
    // dead letters of invalid trigger events; their topics are created when missing (1 partition)
    deadLetter: {
      producer: gatedProducer(clients.producer, writeGate),
      ensureTopic: ensureEventTopic(admin, { partitions: 1 }),
    },
  });
  log.info('kafka configured', { brokers });
  return {
    topics: new TopicReconciler({ admin, logger: log, policy }),
    events,
    triggers,
    async close() {
      await triggers.close();
      // give buffered events a moment to go out, then drop the connections
      await events.close(3_000);
      await clients.close();
    },
  };
}

main().catch((e: unknown) => {
  const logger = createLogger({ level: 'error', name: 'ymera-operator' });
  logger.error('fatal error', { error: e });
  process.exit(1);
});
