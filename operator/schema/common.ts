// Schema fragments shared by several kinds: the status every kind reports and
// its printer columns, names, cron schedules, durations, container commands,
// resources, GPUs and environment variables, label selectors, secret
// references and object storage locations.
import { s } from './builder.ts';
import type { AnySchema, Validation } from './builder.ts';
import { AGE_COLUMN, READY_COLUMN } from './crd.ts';
import type { PrinterColumn } from './crd.ts';

// ---------------------------------------------------------------- patterns

export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** Go duration: `30s`, `5m`, `1h30m`, `250ms`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$';
/** Environment variable name (as the API server accepts it for containers). */
export const ENV_NAME_PATTERN = '^[-._a-zA-Z][-._a-zA-Z0-9]*$';
export const KAFKA_TOPIC_PATTERN = '^[a-zA-Z0-9._-]+$';

// ---------------------------------------------------------------- status and printer columns

/**
 * The status object of a kind: observedGeneration and conditions (Ready,
 * Reconciling, Stalled and the kind's `conditionTypes`), followed by the
 * kind's own `fields` (by convention `phase` first, see statusPhase).
 */
export function statusObject<const Fields extends Record<string, AnySchema>>(
  kind: string,
  conditionTypes: readonly string[],
  fields: Fields,
) {
  return s.object(
    {
      observedGeneration: s.optional(
        s.integer({
          description: 'The .metadata.generation this status reflects.',
          format: 'int64',
          minimum: 0,
        }),
      ),
      conditions: s.optional(s.conditions(conditionTypes)),
      ...fields,
    },
    { description: `Observed state of the ${kind}, written by the operator.` },
  );
}

/** status.phase: a one-word summary for humans, one of `phases`. */
export function statusPhase<const V extends readonly [string, ...string[]]>(phases: V, description: string) {
  return s.optional(s.enum(phases, { description }));
}

/** The printer column showing status.phase. */
export function phaseColumn(description: string): PrinterColumn {
  return { name: 'Phase', type: 'string', jsonPath: '.status.phase', description };
}

/**
 * The printer columns of a kind: Ready, Phase (described by
 * `phaseDescription`), the kind's own `columns`, Age.
 */
export function kindPrinterColumns(
  phaseDescription: string,
  columns: readonly PrinterColumn[],
): PrinterColumn[] {
  return [READY_COLUMN, phaseColumn(phaseDescription), ...columns, AGE_COLUMN];
}

// ---------------------------------------------------------------- cron

const CRON_FIELDS = {
  minute: '[0-5]?[0-9]',
  hour: '[01]?[0-9]|2[0-3]',
  dayOfMonth: '0?[1-9]|[12][0-9]|3[01]',
  month: '0?[1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec',
  dayOfWeek: '[0-7]|sun|mon|tue|wed|thu|fri|sat',
};

function cronField(values: string, allowQuestionMark: boolean): string {
  const start = allowQuestionMark ? '[*?]' : '[*]';
  const item = `(${start}|(${values})(-(${values}))?)(/[0-9]{1,2})?`;
  return `${item}(,${item})*`;
}

/**
 * RE2 regular expression (case-insensitive) for a five-field cron expression
 * (minute hour day-of-month month day-of-week; `*`, lists, ranges, steps,
 * month and weekday names, `?` in the day fields) or one of the nicknames
 * @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly. Uses no
 * backslashes, so it can sit in a CEL string literal as is.
 */
export const CRON_REGEX =
  '(?i)^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|' +
  [
    cronField(CRON_FIELDS.minute, false),
    cronField(CRON_FIELDS.hour, false),
    cronField(CRON_FIELDS.dayOfMonth, true),
    cronField(CRON_FIELDS.month, false),
    cronField(CRON_FIELDS.dayOfWeek, true),
  ].join(' ') +
  ')$';

/** CEL rule (on the string itself) checking cron syntax. */
export function cronValidation(): Validation {
  return {
    rule: `self.matches('${CRON_REGEX}')`,
    message:
      'must be a cron expression with five fields (minute hour day-of-month month day-of-week, e.g. "0 3 * * *") or one of @hourly, @daily, @weekly, @monthly, @yearly',
  };
}

export function cronSchedule(description: string) {
  return s.string({ description, minLength: 1, maxLength: 128, validations: [cronValidation()] });
}

export function timeZone(what: string) {
  return s.optional(
    s.string({
      description: `IANA time zone name (e.g. Europe/Berlin) in which ${what} is read. Default: UTC.`,
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z][A-Za-z0-9_+/-]*$',
    }),
  );
}

// ---------------------------------------------------------------- durations

/** A Go duration string (`30s`, `5m`, `1h30m`); bounds are checked by the controller. */
export function duration<const O extends { description: string; default?: string }>(opts: O) {
  return s.string({ ...opts, minLength: 2, maxLength: 32, pattern: DURATION_PATTERN });
}

// ---------------------------------------------------------------- names

export function dnsLabel(description?: string, maxLength = 63) {
  return s.string({ description, minLength: 1, maxLength, pattern: DNS_LABEL_PATTERN });
}

export function dnsSubdomain(description: string, maxLength = 253) {
  return s.string({ description, minLength: 1, maxLength, pattern: DNS_SUBDOMAIN_PATTERN });
}

export function kafkaTopic(description: string) {
  return s.string({ description, minLength: 1, maxLength: 249, pattern: KAFKA_TOPIC_PATTERN });
}

/**
 * Partitions, replication factor and topic configs of a Kafka topic the
 * operator owns (Strimzi's KafkaTopic has the same three knobs).
 */
export function kafkaTopicSettings() {
  return {
    partitions: s.integer({
      description:
        'Number of partitions. Can be raised later, never lowered (Kafka cannot remove partitions).',
      minimum: 1,
      maximum: 10000,
      default: 3,
    }),
    replicationFactor: s.optional(
      s.integer({
        description:
          "Copies of each partition. Default: the broker's default.replication.factor. Cannot be changed once the topic exists.",
        minimum: 1,
        maximum: 32,
      }),
    ),
    config: s.optional(
      s.map(s.string({ description: 'Topic config value.', maxLength: 1024 }), {
        description:
          'Topic configs, e.g. retention.ms: "604800000". The operator reverts changes made to these outside the resource.',
        maxProperties: 64,
      }),
    ),
    adopt: s.optional(
      s.boolean({
        description:
          'Manage the topic although it already exists and this resource did not create it. Only the configs listed here are set; the topic keeps every other config. Without it, an existing topic is left alone (KafkaReady=False, reason TopicExists).',
      }),
    ),
    deletionPolicy: s.optional(
      s.enum(['Delete', 'Retain'] as const, {
        description:
          'What deleting this resource does to the topic. Default: delete it only if this resource created it. Delete: also delete an adopted topic. Retain: never delete it.',
      }),
    ),
  };
}

/** status.createdTopics: the record that decides which topics the finalizer deletes. */
export function createdTopicsStatus() {
  return s.optional(
    s.array(s.string({ description: 'Topic name.', maxLength: 249 }), {
      description:
        'Kafka topics this resource created (adopted topics are not listed). Deleting the resource deletes these, unless deletionPolicy is Retain.',
      maxItems: 16,
    }),
  );
}

/** status.adoptedTopics: topics kept as adopted across an upgrade (see controllers/shared/topics.ts). */
export function adoptedTopicsStatus() {
  return s.optional(
    s.array(s.string({ description: 'Topic name.', maxLength: 249 }), {
      description:
        'Kafka topics this resource manages as adopted because it managed them before status.createdTopics existed (an upgrade): their configs are kept in line, and deleting the resource leaves them unless deletionPolicy is Delete.',
      maxItems: 16,
    }),
  );
}

/** A model file: URI (file://, http(s)://, s3://, pvc://) and optional checksum. */
export const MODEL_URI_VALIDATIONS: Validation[] = [
  {
    rule: "self.startsWith('file://') || self.startsWith('http://') || self.startsWith('https://') || self.startsWith('s3://') || self.startsWith('pvc://')",
    message: 'must start with file://, http://, https://, s3:// or pvc://',
  },
  {
    rule: "!self.startsWith('pvc://') || self.matches('^pvc://[a-z0-9]([-a-z0-9.]*[a-z0-9])?/.+$')",
    message: 'a pvc:// URI must name a claim and a path inside it: pvc://<claim>/<path>',
  },
];

export function modelUri(description: string) {
  return s.string({ description, minLength: 1, maxLength: 2048, validations: MODEL_URI_VALIDATIONS });
}

/** Secret with download credentials for a model file (s3:// or http(s)://). */
export function modelCredentials(where: string) {
  return s.optional(
    secretRef(
      `Secret (${where}) whose keys are given to the model download as environment variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT_URL for s3://, HTTP_AUTHORIZATION (an Authorization header value) for http(s)://.`,
    ),
  );
}

export function sha256(description: string) {
  return s.string({ description, minLength: 64, maxLength: 64, pattern: '^[a-f0-9]{64}$' });
}

// ---------------------------------------------------------------- containers

/** A container's command and args (spread into the object that has the image). */
export function commandAndArgs() {
  return {
    command: s.optional(
      s.array(s.string({ maxLength: 4096 }), {
        description: "Entrypoint, replacing the image's ENTRYPOINT.",
        maxItems: 64,
      }),
    ),
    args: s.optional(
      s.array(s.string({ maxLength: 4096 }), {
        description: "Arguments to the entrypoint, replacing the image's CMD.",
        maxItems: 64,
      }),
    ),
  };
}

const RESOURCE_KEYS_RULE: Validation = {
  rule: "self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'])",
  message: 'only cpu, memory and ephemeral-storage may be set; ask for GPUs with the gpu field',
};

/** requests/limits maps (cpu, memory, ephemeral-storage). */
export function resources(what: string) {
  const quantities = (part: string) =>
    s.optional(
      s.map(s.quantity({}), {
        description: `${part} by resource name: cpu (cores, e.g. 500m), memory (bytes, e.g. 2Gi) and ephemeral-storage.`,
        maxProperties: 3,
        validations: [RESOURCE_KEYS_RULE],
      }),
    );
  return s.optional(
    s.object(
      {
        requests: quantities('Resources reserved for each container (used for scheduling)'),
        limits: quantities('Upper bounds the container may use'),
      },
      {
        description: `CPU and memory for ${what}, as in a container's resources. GPUs are asked for with gpu.`,
      },
    ),
  );
}

export function gpu(what: string) {
  return s.optional(
    s.object(
      {
        count: s.integer({
          description: 'Number of nvidia.com/gpu devices to request (and limit).',
          minimum: 1,
          maximum: 16,
          default: 1,
        }),
        product: s.optional(
          s.string({
            description:
              'GPU model to schedule on, matched against the node label nvidia.com/gpu.product (e.g. NVIDIA-A100-SXM4-80GB). Default: any GPU.',
            minLength: 1,
            maxLength: 63,
            pattern: LABEL_VALUE_PATTERN,
          }),
        ),
      },
      {
        description: `GPUs for ${what}. The pods tolerate the nvidia.com/gpu taint and are placed on GPU nodes.`,
      },
    ),
  );
}

const keyRef = (what: string) =>
  s.object(
    {
      name: dnsSubdomain(`Name of the ${what} in the same namespace.`),
      key: s.string({ description: `Key within the ${what}.`, minLength: 1, maxLength: 253 }),
    },
    { description: `Selects a key of a ${what}.` },
  );

export function env(what: string) {
  return s.optional(
    s.array(
      s.object(
        {
          name: s.string({
            description: 'Name of the environment variable.',
            minLength: 1,
            maxLength: 128,
            pattern: ENV_NAME_PATTERN,
          }),
          value: s.optional(s.string({ description: 'Literal value.', maxLength: 8192 })),
          valueFrom: s.optional(
            s.object(
              {
                secretKeyRef: s.optional(keyRef('Secret')),
                configMapKeyRef: s.optional(keyRef('ConfigMap')),
              },
              {
                description: 'Source of the value: a Secret key or a ConfigMap key.',
                validations: [
                  {
                    rule: 'has(self.secretKeyRef) != has(self.configMapKeyRef)',
                    message: 'set exactly one of secretKeyRef or configMapKeyRef',
                  },
                ],
              },
            ),
          ),
        },
        {
          description: 'An environment variable.',
          validations: [
            {
              rule: '!(has(self.value) && has(self.valueFrom))',
              message: 'set value or valueFrom, not both',
            },
          ],
        },
      ),
      {
        description: `Environment variables for ${what}.`,
        maxItems: 64,
        listType: 'map',
        listMapKeys: ['name'],
      },
    ),
  );
}

// ---------------------------------------------------------------- selectors and secrets

export function labelSelector(description: string) {
  return s.object(
    {
      matchLabels: s.optional(
        s.map(s.string({ maxLength: 63 }), {
          description: 'Labels that must all be present with exactly these values.',
          maxProperties: 32,
        }),
      ),
      matchExpressions: s.optional(
        s.array(
          s.object(
            {
              key: s.string({
                description: 'Label key the requirement applies to.',
                minLength: 1,
                maxLength: 317,
              }),
              operator: s.enum(['In', 'NotIn', 'Exists', 'DoesNotExist'], {
                description: 'How the label relates to the values: In, NotIn, Exists or DoesNotExist.',
              }),
              values: s.optional(
                s.array(s.string({ maxLength: 63 }), {
                  description:
                    'Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.',
                  maxItems: 64,
                  listType: 'atomic',
                }),
              ),
            },
            {
              description: 'A label requirement.',
              validations: [
                {
                  rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
                  message: 'values must be non-empty for In and NotIn and empty for Exists and DoesNotExist',
                  fieldPath: '.values',
                },
              ],
            },
          ),
          { description: 'Label requirements that must all hold.', maxItems: 16, listType: 'atomic' },
        ),
      ),
    },
    { description },
  );
}

/** Node labels a pod must run on (`spec.nodeSelector` of its pods). */
export function nodeSelector(what: string) {
  return s.optional(
    s.map(s.string({ maxLength: 63, pattern: LABEL_VALUE_PATTERN }), {
      description: `Node labels ${what} must run on (the pods' nodeSelector), merged with the GPU selector when a GPU is requested.`,
      maxProperties: 16,
    }),
  );
}

/** Taints a pod tolerates (`spec.tolerations` of its pods), in the Kubernetes shape. */
export function tolerations(what: string) {
  return s.optional(
    s.array(
      s.object(
        {
          key: s.optional(
            s.string({ description: 'Taint key; empty with Exists matches every taint.', maxLength: 317 }),
          ),
          operator: s.enum(['Exists', 'Equal'], {
            description: 'Exists (any value) or Equal (the value given).',
            default: 'Equal',
          }),
          value: s.optional(s.string({ description: 'Taint value, for Equal.', maxLength: 63 })),
          effect: s.optional(
            s.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'], {
              description: 'Taint effect to tolerate; empty tolerates every effect.',
            }),
          ),
          tolerationSeconds: s.optional(
            s.integer({
              description: 'For NoExecute: how long the pod stays bound after the taint appears.',
              minimum: 0,
              maximum: 86400,
            }),
          ),
        },
        {
          description: 'A taint the pods tolerate.',
          validations: [
            {
              rule: "self.operator != 'Exists' || !has(self.value) || self.value == ''",
              message: 'value must be empty when operator is Exists',
              fieldPath: '.value',
            },
            {
              rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
              message: 'tolerationSeconds applies to the NoExecute effect only',
              fieldPath: '.tolerationSeconds',
            },
          ],
        },
      ),
      {
        description: `Taints ${what} tolerate, added to the GPU toleration when a GPU is requested.`,
        maxItems: 16,
        listType: 'atomic',
      },
    ),
  );
}

export function secretRef(description: string) {
  return s.object(
    { name: dnsSubdomain('Name of the Secret, in the same namespace as this resource.') },
    { description },
  );
}

/** An S3 (or S3-compatible) location. */
export function s3Location(what: string) {
  return s.object(
    {
      endpoint: s.optional(
        s.string({
          description:
            'Endpoint URL of an S3-compatible store (e.g. http://minio.storage:9000). Default: AWS S3 for the region.',
          maxLength: 512,
          pattern: '^https?://[^\\s/]+(/.*)?$',
        }),
      ),
      bucket: s.string({
        description: 'Bucket name.',
        minLength: 3,
        maxLength: 63,
        pattern: '^[a-z0-9][a-z0-9.-]*[a-z0-9]$',
      }),
      prefix: s.optional(
        s.string({
          description: `Key prefix under which ${what} are stored (e.g. team-a/prod/).`,
          maxLength: 512,
          pattern: '^[^/].*$',
        }),
      ),
      region: s.optional(
        s.string({
          description: 'Region of the bucket (e.g. eu-central-1).',
          maxLength: 64,
          pattern: '^[a-z0-9-]+$',
        }),
      ),
      credentialsSecret: s.optional(
        secretRef(
          "Secret in this resource's namespace holding the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Without it, the operator uses its own credentials only at the endpoints the cluster admin lists (operator flag --s3-ambient-credentials-endpoints); elsewhere it reads nothing and says so in status.",
        ),
      ),
      forcePathStyle: s.boolean({
        description:
          'Address the bucket in the path (endpoint/bucket/key) instead of the host name; most S3-compatible stores need this.',
        default: false,
      }),
    },
    { description: `An S3 bucket (or S3-compatible store) where ${what} are kept.` },
  );
}

export function pvcLocation(what: string) {
  return s.object(
    {
      claimName: dnsSubdomain('Name of the PersistentVolumeClaim, in the same namespace as this resource.'),
      path: s.optional(
        s.string({
          description: `Directory inside the volume where ${what} are kept, relative to its root. Default: the root.`,
          maxLength: 512,
          pattern: '^[^/].*$',
        }),
      ),
    },
    { description: `A PersistentVolumeClaim where ${what} are kept.` },
  );
}
