import { describe, expect, it } from 'vitest';
import { ConfigError, configHelp, parseConfig, reconcilesClusterScoped, wantsHelp } from './config.ts';
import type { Config } from './config.ts';

const deps = { hostname: () => 'node-a', randomSuffix: () => 'abcd1234' };
const parse = (argv: string[], env: Record<string, string | undefined> = {}) => parseConfig(argv, env, deps);

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('has documented defaults', () => {
    expect(parse([])).toEqual({
      metricsAddr: '127.0.0.1:8080',
      healthAddr: '127.0.0.1:8081',
      leaderElect: true,
      leaseName: 'ymera-operator-leader',
      leaseNamespace: 'ymera-system',
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      identity: 'node-a_abcd1234',
      watchNamespaces: [],
      concurrency: 2,
      resyncSeconds: 300,
      logLevel: 'info',
      kubeconfig: undefined,
      kafkaBrokers: [],
      kafkaTopicAllow: {},
      finalizeTimeoutSeconds: 300,
      prometheusUrl: undefined,
      prometheusRules: 'auto',
      ruleLabels: {},
      gatewayApi: 'auto',
      s3AmbientCredentialsEndpoints: [],
      s3MaxReadBytes: 1048576,
      s3RefusedCidrs: [],
      backupNamespaceGrant: {},
      maintenanceJobNamespaces: [],
      clusterScopedKinds: 'auto',
    } satisfies Config);
  });

  it('reconciles cluster-scoped kinds only in the all-namespaces operator unless told otherwise', () => {
    expect(reconcilesClusterScoped(parse([]).clusterScopedKinds, [])).toBe(true);
    // a team's namespaced install leaves MaintenancePlans (nodes) alone by default
    const team = parse(['--watch-namespaces=team-a']);
    expect(reconcilesClusterScoped(team.clusterScopedKinds, team.watchNamespaces)).toBe(false);
    const told = parse(['--watch-namespaces=team-a', '--cluster-scoped-kinds=true']);
    expect(reconcilesClusterScoped(told.clusterScopedKinds, told.watchNamespaces)).toBe(true);
    expect(reconcilesClusterScoped(parse(['--cluster-scoped-kinds=false']).clusterScopedKinds, [])).toBe(
      false,
    );
    expect(() => parse(['--cluster-scoped-kinds=maybe'])).toThrow(
      /^--cluster-scoped-kinds: must be one of auto, true, false/,
    );
  });

  it("reads the maintenance Job namespaces; the operator's own namespace is refused", () => {
    expect(parse(['--maintenance-job-namespaces=gpu-maint, ops']).maintenanceJobNamespaces).toEqual([
      'gpu-maint',
      'ops',
    ]);
    expect(parse([], { YMERA_MAINTENANCE_JOB_NAMESPACES: 'm' }).maintenanceJobNamespaces).toEqual(['m']);
    expect(() =>
      parse(['--maintenance-job-namespaces=m,ymera-system'], { POD_NAMESPACE: 'ymera-system' }),
    ).toThrow(/^--maintenance-job-namespaces: must not include the operator's own namespace ymera-system/);
    expect(() => parse(['--maintenance-job-namespaces=Bad_ns'])).toThrow(/^--maintenance-job-namespaces: /);
  });

  it('reads the Kafka topic allow-list per namespace from the flag or its env twin', () => {
    expect(
      parse(['--kafka-topic-allow=team-a=shared-logs,team-a=audit*,*=ymera.events.*']).kafkaTopicAllow,
    ).toEqual({
      'team-a': ['shared-logs', 'audit*'],
      '*': ['ymera.events.*'],
    });
    expect(parse([], { YMERA_KAFKA_TOPIC_ALLOW: 'b=x' }).kafkaTopicAllow).toEqual({ b: ['x'] });
    expect(() => parse(['--kafka-topic-allow=Team=x'])).toThrow(
      /--kafka-topic-allow: entry "Team=x" must be/,
    );
    expect(() => parse(['--kafka-topic-allow=a=b*c'])).toThrow(/<namespace>=<prefix>\*/);
    expect(() => parse(['--finalize-timeout-seconds=0'])).toThrow(
      /--finalize-timeout-seconds: must be an integer from 1/,
    );
  });

  it('reads the backup namespace grants from the flag or its env twin; a bad entry names the flag', () => {
    expect(parse(['--backup-namespace-grant=ops=team-a,ops=data-*,*=shared']).backupNamespaceGrant).toEqual({
      ops: ['team-a', 'data-*'],
      '*': ['shared'],
    });
    expect(parse([], { YMERA_BACKUP_NAMESPACE_GRANT: 'a=b' }).backupNamespaceGrant).toEqual({ a: ['b'] });
    expect(() => parse(['--backup-namespace-grant=ops'])).toThrow(
      /^--backup-namespace-grant: entry "ops" must be <policyNamespace>=<namespace>/,
    );
    expect(() => parse([], { YMERA_BACKUP_NAMESPACE_GRANT: 'A=b' })).toThrow(
      /^YMERA_BACKUP_NAMESPACE_GRANT: /,
    );
  });

  it('takes lease namespace and identity host from the pod environment', () => {
    const c = parse([], { POD_NAMESPACE: 'platform', HOSTNAME: 'ymera-operator-7d9f' });
    expect(c.leaseNamespace).toBe('platform');
    expect(c.identity).toBe('ymera-operator-7d9f_abcd1234');
  });

  it('uses a random identity suffix by default, so two processes on one host differ', () => {
    const a = parseConfig([], { HOSTNAME: 'h' });
    const b = parseConfig([], { HOSTNAME: 'h' });
    expect(a.identity).toMatch(/^h_[0-9a-f]{8}$/);
    expect(a.identity).not.toBe(b.identity);
  });

  it('accepts --flag=value and --flag value', () => {
    const c = parse([
      '--metrics-bind-address=:9090',
      '--health-probe-bind-address',
      '[::1]:9091',
      '--watch-namespaces',
      ' team-a, team-b ,team-a,',
      '--concurrency=8',
      '--log-level',
      'DEBUG',
      '--kubeconfig=/tmp/kc',
      '--identity',
      'me',
      '--resync-seconds=0',
    ]);
    expect(c).toMatchObject({
      metricsAddr: ':9090',
      healthAddr: '[::1]:9091',
      watchNamespaces: ['team-a', 'team-b'],
      concurrency: 8,
      logLevel: 'debug',
      kubeconfig: '/tmp/kc',
      identity: 'me',
      resyncSeconds: 0,
    });
  });

  it('supports every boolean spelling for leader election', () => {
    expect(parse(['--no-leader-elect']).leaderElect).toBe(false);
    expect(parse(['--leader-elect=false']).leaderElect).toBe(false);
    expect(parse(['--leader-elect=0']).leaderElect).toBe(false);
    expect(parse(['--leader-elect']).leaderElect).toBe(true);
    expect(parse(['--no-leader-elect', '--leader-elect']).leaderElect).toBe(true); // last wins
    expect(parse([], { YMERA_LEADER_ELECT: 'false' }).leaderElect).toBe(false);
  });

  it('a bool flag never swallows the next argument', () => {
    expect(errorOf(() => parse(['--leader-elect', 'false'])).message).toMatch(/unexpected argument "false"/);
  });

  it('reads env vars, with flags taking precedence and empty values ignored', () => {
    const env = { YMERA_METRICS_BIND_ADDRESS: '0.0.0.0:8443', YMERA_CONCURRENCY: '4', YMERA_LOG_LEVEL: '' };
    expect(parse([], env)).toMatchObject({ metricsAddr: '0.0.0.0:8443', concurrency: 4, logLevel: 'info' });
    expect(parse(['--concurrency=6'], env).concurrency).toBe(6);
    expect(parse([], { YMERA_LEASE_NAMESPACE: 'ops', POD_NAMESPACE: 'platform' }).leaseNamespace).toBe('ops');
  });

  it('rejects unknown flags, stray arguments and missing values', () => {
    expect(errorOf(() => parse(['--leader-elekt'])).message).toBe('unknown flag --leader-elekt (see --help)');
    expect(errorOf(() => parse(['--no-concurrency'])).message).toMatch(/unknown flag --no-concurrency/);
    expect(errorOf(() => parse(['run'])).message).toMatch(/unexpected argument "run"/);
    expect(errorOf(() => parse(['--log-level'])).message).toBe('--log-level needs a value');
    expect(errorOf(() => parse(['--log-level', '--concurrency=2'])).message).toBe(
      '--log-level needs a value',
    );
    expect(errorOf(() => parse(['--no-leader-elect=true'])).message).toMatch(/takes no value/);
  });

  it('names the flag or env var and the allowed values in errors', () => {
    expect(errorOf(() => parse(['--concurrency=0'])).message).toBe(
      '--concurrency: must be an integer from 1 to 64 (got "0")',
    );
    expect(errorOf(() => parse([], { YMERA_CONCURRENCY: '65' })).message).toBe(
      'YMERA_CONCURRENCY: must be an integer from 1 to 64 (got "65")',
    );
    expect(errorOf(() => parse(['--concurrency=2.5'])).message).toMatch(/^--concurrency: must be an integer/);
    expect(errorOf(() => parse(['--log-level=verbose'])).message).toBe(
      '--log-level: must be one of debug, info, warn, error (got "verbose")',
    );
    expect(errorOf(() => parse(['--leader-elect=maybe'])).message).toMatch(
      /^--leader-elect: must be true or false/,
    );
    expect(errorOf(() => parse([], { YMERA_LEADER_ELECT: 'yes!' })).message).toMatch(/^YMERA_LEADER_ELECT:/);
    expect(errorOf(() => parse(['--identity='])).message).toMatch(/^--identity: must not be empty/);
  });

  it('validates bind addresses', () => {
    for (const bad of ['8080', 'localhost', 'host:99999', 'host:', 'a:b:8080', 'host:80x']) {
      expect(errorOf(() => parse([`--metrics-bind-address=${bad}`])).message).toMatch(
        /^--metrics-bind-address: must be host:port/,
      );
    }
    expect(errorOf(() => parse([], { YMERA_HEALTH_PROBE_BIND_ADDRESS: 'x' })).message).toMatch(
      /^YMERA_HEALTH_PROBE_BIND_ADDRESS:/,
    );
    expect(parse(['--metrics-bind-address=localhost:0']).metricsAddr).toBe('localhost:0');
  });

  it('validates names and namespaces as Kubernetes would', () => {
    expect(errorOf(() => parse(['--lease-namespace=Bad_NS'])).message).toMatch(
      /^--lease-namespace: must be a lowercase RFC 1123 label/,
    );
    expect(errorOf(() => parse([], { POD_NAMESPACE: '-x' })).message).toMatch(/^POD_NAMESPACE:/);
    expect(errorOf(() => parse(['--watch-namespaces=a,B'])).message).toMatch(/^--watch-namespaces: .*"B"/);
    expect(errorOf(() => parse(['--lease-name=' + 'a'.repeat(254)])).message).toMatch(/at most 253/);
    expect(parse(['--lease-name=ymera.leader']).leaseName).toBe('ymera.leader');
  });

  it('requires retry period < renew deadline < lease duration', () => {
    expect(errorOf(() => parse(['--renew-deadline-seconds=15'])).message).toBe(
      '--renew-deadline-seconds (15) must be less than --lease-duration-seconds (15)',
    );
    expect(errorOf(() => parse(['--retry-period-seconds=10'])).message).toBe(
      '--retry-period-seconds (10) must be less than --renew-deadline-seconds (10)',
    );
    expect(errorOf(() => parse(['--lease-duration-seconds=0'])).message).toMatch(
      /^--lease-duration-seconds:/,
    );
    const ok = parse([
      '--lease-duration-seconds=60',
      '--renew-deadline-seconds=40',
      '--retry-period-seconds=5',
    ]);
    expect([ok.leaseDurationSeconds, ok.renewDeadlineSeconds, ok.retryPeriodSeconds]).toEqual([60, 40, 5]);
  });
});

describe('help', () => {
  it('wantsHelp spots -h and --help', () => {
    expect(wantsHelp(['--concurrency=2', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--log-level=info'])).toBe(false);
  });

  it('parseConfig tolerates --help so callers may check wantsHelp afterwards too', () => {
    expect(parse(['--help']).concurrency).toBe(2);
  });

  it('configHelp lists every flag with its env var and default', () => {
    const help = configHelp();
    for (const f of [
      '--metrics-bind-address <value>',
      'YMERA_METRICS_BIND_ADDRESS',
      '--health-probe-bind-address',
      '--leader-elect, --no-leader-elect',
      '--lease-name',
      '--lease-namespace',
      '--lease-duration-seconds',
      '--renew-deadline-seconds',
      '--retry-period-seconds',
      '--identity',
      '--watch-namespaces',
      '--concurrency',
      '--resync-seconds',
      '--log-level',
      '--kubeconfig',
      '(default 127.0.0.1:8080)',
    ]) {
      expect(help).toContain(f);
    }
  });
});

describe('external dependency flags', () => {
  it('defaults to Kafka and Prometheus off, rules auto-detected', () => {
    const c = parseConfig([], {});
    expect(c.kafkaBrokers).toEqual([]);
    expect(c.prometheusUrl).toBeUndefined();
    expect(c.prometheusRules).toBe('auto');
    expect(c.ruleLabels).toEqual({});
  });
  it('parses brokers, URL, rule mode and rule labels', () => {
    const c = parseConfig(
      [
        '--kafka-brokers=127.0.0.1:9092, kafka-0.kafka:9092',
        '--prometheus-url=http://prom:9090/',
        '--prometheus-rules=configmap',
        '--rule-labels=release=kube-prometheus,team=ml',
      ],
      {},
    );
    expect(c.kafkaBrokers).toEqual(['127.0.0.1:9092', 'kafka-0.kafka:9092']);
    expect(c.prometheusUrl).toBe('http://prom:9090');
    expect(c.prometheusRules).toBe('ConfigMap');
    expect(c.ruleLabels).toEqual({ release: 'kube-prometheus', team: 'ml' });
  });
  it('names the flag and what is allowed for bad values', () => {
    expect(() => parseConfig(['--kafka-brokers=kafka'], {})).toThrow(/--kafka-brokers.*host:port/);
    expect(() => parseConfig(['--kafka-brokers=k:99999'], {})).toThrow(/--kafka-brokers/);
    expect(() => parseConfig(['--prometheus-url=ftp://x'], {})).toThrow(/--prometheus-url.*http/);
    expect(() => parseConfig(['--prometheus-rules=yaml'], {})).toThrow(
      /--prometheus-rules.*PrometheusRule, ConfigMap/,
    );
    expect(() => parseConfig(['--rule-labels=bad key=x'], {})).toThrow(/--rule-labels/);
    expect(() => parseConfig([], { YMERA_KAFKA_BROKERS: 'nope' })).toThrow(/YMERA_KAFKA_BROKERS/);
  });
  it('auto-detects the Gateway API by default, or takes --gateway-api / YMERA_GATEWAY_API', () => {
    expect(parseConfig([], {}).gatewayApi).toBe('auto');
    expect(parseConfig(['--gateway-api=true'], {}).gatewayApi).toBe('true');
    expect(parseConfig(['--gateway-api', 'FALSE'], {}).gatewayApi).toBe('false');
    expect(parseConfig([], { YMERA_GATEWAY_API: 'false' }).gatewayApi).toBe('false');
    expect(() => parseConfig(['--gateway-api=yes'], {})).toThrow(/--gateway-api.*auto, true, false/);
  });
  it("lends the operator's S3 credentials nowhere unless the admin lists origins", () => {
    expect(parseConfig([], {}).s3AmbientCredentialsEndpoints).toEqual([]);
    expect(
      parseConfig(['--s3-ambient-credentials-endpoints=http://127.0.0.1:9000, https://*.amazonaws.com'], {})
        .s3AmbientCredentialsEndpoints,
    ).toEqual(['http://127.0.0.1:9000', 'https://*.amazonaws.com']);
    expect(
      parseConfig([], { YMERA_S3_AMBIENT_CREDENTIALS_ENDPOINTS: 'https://minio.storage:9000' })
        .s3AmbientCredentialsEndpoints,
    ).toEqual(['https://minio.storage:9000']);
    expect(() => parseConfig(['--s3-ambient-credentials-endpoints=minio:9000'], {})).toThrow(
      /--s3-ambient-credentials-endpoints: "minio:9000" must be http:\/\/ or https:\/\//,
    );
    expect(() => parseConfig(['--s3-ambient-credentials-endpoints=https://minio/bucket'], {})).toThrow(
      /--s3-ambient-credentials-endpoints: .*must be an origin/,
    );
  });
  it('caps S3 reads at --s3-max-read-bytes / YMERA_S3_MAX_READ_BYTES', () => {
    expect(parseConfig(['--s3-max-read-bytes=4096'], {}).s3MaxReadBytes).toBe(4096);
    expect(parseConfig([], { YMERA_S3_MAX_READ_BYTES: '2048' }).s3MaxReadBytes).toBe(2048);
    expect(() => parseConfig(['--s3-max-read-bytes=10'], {})).toThrow(
      /--s3-max-read-bytes: must be an integer from 1024 to 1073741824/,
    );
  });
  it('refuses the address ranges the admin lists in --s3-refused-cidrs / YMERA_S3_REFUSED_CIDRS', () => {
    expect(parseConfig(['--s3-refused-cidrs=127.0.0.0/8, fd00::/8'], {}).s3RefusedCidrs).toEqual([
      '127.0.0.0/8',
      'fd00::/8',
    ]);
    expect(parseConfig([], { YMERA_S3_REFUSED_CIDRS: '10.0.0.0/8' }).s3RefusedCidrs).toEqual(['10.0.0.0/8']);
    expect(() => parseConfig(['--s3-refused-cidrs=10.0.0.0'], {})).toThrow(
      /--s3-refused-cidrs: "10.0.0.0" is not a CIDR such as 10.0.0.0\/8 or fd00::\/8/,
    );
    expect(() => parseConfig(['--s3-refused-cidrs=10.0.0.0/33'], {})).toThrow(/--s3-refused-cidrs/);
  });
});
