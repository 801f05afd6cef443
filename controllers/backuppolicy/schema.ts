// BackupPolicy (bpol): scheduled, encrypted backups of ymera resources (and
// optionally their model files) to S3-compatible storage, with retention and restore
// drills into a scratch namespace. Restores are asked for with the separate
// Restore kind (see controllers/restore/schema.ts for why).
// Single source of truth for the CRD and the types.
import { s } from '../../operator/schema/builder.ts';
import type { Defaulted, Infer } from '../../operator/schema/builder.ts';
import {
  cronSchedule,
  dnsLabel,
  kindPrinterColumns,
  labelSelector,
  s3Location,
  statusObject,
  statusPhase,
  timeZone,
} from '../../operator/schema/common.ts';
import { defineKind } from '../../operator/schema/crd.ts';
import type { CustomResource } from '../../operator/schema/crd.ts';

export const KIND = 'BackupPolicy';

export const conditionTypes = ['BackupHealthy', 'DrillPassed'] as const;

export const phases = ['Pending', 'Healthy', 'Degraded', 'Suspended'] as const;

export const lastBackupPhases = ['InProgress', 'Completed', 'PartiallyFailed', 'Failed'] as const;

/** Kind names: `InferenceService`, or `Kind.group` for other groups (e.g. `Deployment.apps`). */
export const KIND_NAME_PATTERN =
  '^[A-Z][A-Za-z0-9]*(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$';

const include = s.object(
  {
    namespaces: s.optional(
      s.array(dnsLabel(), {
        description: "Namespaces to back up. Default: the policy's own namespace.",
        minItems: 1,
        maxItems: 32,
        listType: 'set',
      }),
    ),
    kinds: s.optional(
      s.array(s.string({ minLength: 1, maxLength: 253, pattern: KIND_NAME_PATTERN }), {
        description:
          'Kinds to back up: ymera kinds by name (e.g. InferenceService), core kinds by name (ConfigMap), others as Kind.group (e.g. Deployment.apps). Default: every ymera kind and the ConfigMaps their children use.',
        minItems: 1,
        maxItems: 32,
        listType: 'set',
      }),
    ),
    labelSelector: s.optional(labelSelector('Back up only objects with these labels. Default: all.')),
    secrets: s.boolean({
      description: 'Also back up the Secrets the included objects reference. Needs encryption.',
      default: false,
    }),
  },
  { description: 'What is backed up.' },
);

// S3 only: a PersistentVolumeClaim store would need a Job mounting the claim
// for every write, listing, retention run and restore, and S3-compatible
// stores (MinIO included) cover the on-prem case (README.md).
const storage = s.object(
  {
    s3: s.optional(s3Location('backups')),
  },
  {
    description:
      'Where backups are written: S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...). PersistentVolumeClaims are not supported.',
    validations: [
      {
        rule: 'has(self.s3)',
        message:
          'storage.s3 is required: backups go to S3-compatible object storage (AWS S3, MinIO, ...); PersistentVolumeClaims are not supported',
        fieldPath: '.s3',
        reason: 'FieldValueRequired',
      },
    ],
  },
);

export const specSchema = s.object(
  {
    schedule: cronSchedule('Cron schedule of backups (e.g. "0 1 * * *" or @daily).'),
    timeZone: timeZone('the schedules'),
    suspend: s.boolean({ description: 'Take no scheduled backups or drills.', default: false }),
    include: s.optional(include),
    modelArtifacts: s.boolean({
      description:
        "Also copy the model files the included InferenceServices (spec.model.uri) and LearningPipelines (status.latestModel, status.promotion.model) reference, with those objects' own credentials: s3:// is copied; file:// (inside the runtime image) is not and is said so; pvc:// and http(s):// are not supported (failures of that model: the backup is PartiallyFailed).",
      default: false,
    }),
    storage,
    encryption: s.optional(
      s.object(
        {
          keySecret: s.object(
            {
              name: dnsLabel('Name of the Secret, in the same namespace as the policy.', 253),
              key: s.string({
                description: 'Key holding the 32-byte key (raw or base64).',
                minLength: 1,
                maxLength: 253,
                default: 'key',
              }),
            },
            { description: 'Secret key holding the encryption key.' },
          ),
          previousKeys: s.optional(
            s.array(s.string({ minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' }), {
              description:
                'Other keys of the same Secret holding earlier encryption keys: they open older backups (restores, drills); new backups use keySecret.key. Keep a key here while backups sealed with it are kept.',
              maxItems: 16,
              listType: 'set',
            }),
          ),
        },
        { description: 'Encrypt backups with AES-256-GCM. Without it, backups are stored in clear.' },
      ),
    ),
    retention: s.optional(
      s.object(
        {
          keepLast: s.integer({
            description: 'Number of most recent backups kept.',
            minimum: 1,
            maximum: 1000,
            default: 7,
          }),
          ttlHours: s.optional(
            s.integer({
              description:
                'Delete backups older than this many hours (the keepLast most recent are kept regardless).',
              minimum: 1,
              maximum: 87600,
            }),
          ),
        },
        { description: 'Which backups are kept; older ones are deleted from storage.' },
      ),
    ),
    drill: s.optional(
      s.object(
        {
          schedule: cronSchedule('Cron schedule of drills (e.g. "0 4 * * 0" for Sundays at 04:00).'),
          targetNamespace: dnsLabel(
            'Scratch namespace the latest backup is restored into; created by the drill and deleted afterwards. It must be named <policy namespace>-<suffix> (unless the cluster admin allows more), must not exist or must have been created by a drill of this policy, and must not be a namespace that is backed up.',
          ),
          keepNamespace: s.boolean({
            description:
              'Keep the restored objects after the drill for inspection (they are replaced by the next drill).',
            default: false,
          }),
          timeoutMinutes: s.integer({
            description:
              'How long the drill waits for the restored InferenceServices to become Ready before it fails.',
            minimum: 1,
            maximum: 1440,
            default: 15,
          }),
        },
        {
          description:
            'Disaster-recovery drill: restore the latest backup into a scratch namespace and verify it (object count and content hashes).',
        },
      ),
    ),
  },
  {
    description: 'Desired state of the BackupPolicy.',
    validations: [
      {
        rule: '!has(self.include) || !self.include.secrets || has(self.encryption)',
        message: 'backing up Secrets (include.secrets) requires encryption',
        fieldPath: '.encryption',
        reason: 'FieldValueRequired',
      },
      {
        rule: '!has(self.drill) || !has(self.include) || !has(self.include.namespaces) || !(self.drill.targetNamespace in self.include.namespaces)',
        message: 'drill.targetNamespace must not be one of the namespaces backed up',
        fieldPath: '.drill.targetNamespace',
      },
    ],
  },
);

const backup = s.object(
  {
    id: s.string({
      description: 'Backup ID (UTC start time and a random suffix, e.g. 20250131T010000Z-0a1b2c3d).',
      maxLength: 63,
    }),
    state: s.enum(['Completed', 'Incomplete', 'Invalid'], {
      description:
        'Completed (its manifest is written and parses), Incomplete (no manifest: in progress, failed or crashed) or Invalid (a manifest that does not parse).',
    }),
    startedAt: s.optional(s.dateTime({ description: 'When the backup started (from its id).' })),
    completedAt: s.optional(s.dateTime({ description: 'When the backup finished (from its manifest).' })),
    items: s.optional(s.integer({ description: 'Items in the backup (from its manifest).', minimum: 0 })),
    bytes: s.integer({ description: 'Bytes in storage under the backup.', minimum: 0, format: 'int64' }),
  },
  { description: 'A backup found in storage.' },
);

const lastBackup = s.object(
  {
    id: s.optional(
      s.string({
        description: 'Backup ID (absent when the backup failed before it got one).',
        maxLength: 63,
      }),
    ),
    phase: s.enum(lastBackupPhases, {
      description:
        'InProgress (started, no manifest yet), Completed, PartiallyFailed (restorable, but some model files could not be copied: see failures) or Failed.',
    }),
    trigger: s.enum(['Schedule', 'OnDemand'], {
      description: 'Schedule, or OnDemand (the ymera.io/backup-now annotation).',
    }),
    token: s.optional(
      s.string({
        description:
          'The ymera.io/backup-now token an OnDemand backup acts on: a backup that finished but was not recorded (the operator stopped) counts it as acted on, so it is not taken twice.',
        maxLength: 256,
      }),
    ),
    scheduledAt: s.optional(
      s.dateTime({
        description:
          'The scheduled time a Schedule backup acts on (recorded like token, for the same reason).',
      }),
    ),
    startedAt: s.dateTime({ description: 'When the backup started.' }),
    completedAt: s.optional(s.dateTime({ description: 'When the backup finished or failed.' })),
    items: s.optional(s.integer({ description: 'Items written.', minimum: 0 })),
    bytes: s.optional(s.integer({ description: 'Bytes written to storage.', minimum: 0, format: 'int64' })),
    models: s.optional(s.integer({ description: 'Model files copied (spec.modelArtifacts).', minimum: 0 })),
    failures: s.optional(
      s.object(
        {
          count: s.integer({ description: 'Items that could not be backed up.', minimum: 0 }),
          first: s.array(
            s.object(
              {
                what: s.string({ description: 'The item (e.g. model s3://bucket/key).', maxLength: 1024 }),
                message: s.string({ description: 'Why it failed.', maxLength: 1024 }),
              },
              { description: 'A failed item.' },
            ),
            { description: 'The first failed items.', maxItems: 5 },
          ),
        },
        { description: 'Items left out of a PartiallyFailed backup (from its manifest).' },
      ),
    ),
    reason: s.optional(s.string({ description: 'Why the backup failed (CamelCase).', maxLength: 128 })),
    message: s.optional(s.string({ description: 'What failed, in words.', maxLength: 4096 })),
  },
  { description: 'The most recent backup attempt.' },
);

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(
    phases,
    'Pending (no backup yet), Healthy (the latest backup succeeded), Degraded (the latest backup or drill failed) or Suspended.',
  ),
  lastBackup: s.optional(lastBackup),
  lastSuccessfulBackupTime: s.optional(
    s.dateTime({ description: 'When the latest Completed backup finished.' }),
  ),
  lastScheduleTime: s.optional(
    s.dateTime({ description: 'The latest scheduled time whose backup was taken (or superseded).' }),
  ),
  backupNowToken: s.optional(
    s.string({
      description: 'The ymera.io/backup-now annotation value last acted on (each token is acted on once).',
      maxLength: 256,
    }),
  ),
  backups: s.optional(
    s.array(backup, {
      description: 'Backups in storage, newest first (at most 50 listed).',
      maxItems: 50,
      listType: 'map',
      listMapKeys: ['id'],
    }),
  ),
  lastDrill: s.optional(
    s.object(
      {
        time: s.dateTime({ description: 'When the drill finished.' }),
        backupId: s.optional(s.string({ description: 'Backup the drill restored.', maxLength: 63 })),
        result: s.enum(['Passed', 'Failed'], { description: 'Passed or Failed.' }),
        trigger: s.optional(
          s.enum(['Schedule', 'OnDemand'], { description: 'Schedule, or OnDemand (ymera.io/drill-now).' }),
        ),
        rtoSeconds: s.optional(
          s.number({
            description:
              'Measured recovery time: from the start of the restore to all InferenceServices Ready.',
            minimum: 0,
          }),
        ),
        objectsChecked: s.optional(
          s.integer({ description: 'Objects compared with the backup.', minimum: 0 }),
        ),
        modelsChecked: s.optional(
          s.integer({ description: 'Model digests compared with the backup.', minimum: 0 }),
        ),
        message: s.optional(
          s.string({ description: 'What was checked, or what did not match.', maxLength: 4096 }),
        ),
      },
      { description: 'The most recent drill.' },
    ),
  ),
  activeDrill: s.optional(
    s.object(
      {
        backupId: s.string({ description: 'Backup being restored.', maxLength: 63 }),
        namespace: dnsLabel('Scratch namespace.'),
        trigger: s.enum(['Schedule', 'OnDemand'], { description: 'Schedule or OnDemand.' }),
        token: s.optional(
          s.string({ description: 'The ymera.io/drill-now value it acts on.', maxLength: 256 }),
        ),
        scheduledAt: s.optional(s.dateTime({ description: 'The scheduled time it runs for.' })),
        startedAt: s.dateTime({ description: 'When the drill started.' }),
        restoredAt: s.optional(
          s.dateTime({ description: 'When the restore finished; then the drill waits for Ready.' }),
        ),
        objectsChecked: s.optional(s.integer({ description: 'Objects restored and compared.', minimum: 0 })),
        mismatches: s.optional(
          s.array(s.string({ maxLength: 1024 }), {
            description: 'Objects that did not come back as backed up (bounded).',
            maxItems: 10,
          }),
        ),
        models: s.optional(
          s.array(
            s.object(
              {
                name: s.string({ description: 'InferenceService.', maxLength: 253 }),
                digest: s.string({ description: 'Model sha256 the backup paired it with.', maxLength: 64 }),
              },
              { description: 'A model digest to check once the InferenceService is Ready.' },
            ),
            { description: 'Model digests to check once Ready.', maxItems: 200 },
          ),
        ),
      },
      { description: 'The drill under way (it spans reconciles and survives an operator restart).' },
    ),
  ),
  lastDrillScheduleTime: s.optional(
    s.dateTime({ description: 'The latest scheduled drill time that was run (or superseded).' }),
  ),
  drillNowToken: s.optional(
    s.string({
      description: 'The ymera.io/drill-now annotation value last acted on (each token is acted on once).',
      maxLength: 256,
    }),
  ),
  nextScheduleTime: s.optional(s.dateTime({ description: 'When the next backup is due.' })),
  nextDrillTime: s.optional(s.dateTime({ description: 'When the next drill is due.' })),
});

export type BackupPolicySpec = Infer<typeof specSchema>;
export type BackupPolicySpecDefaulted = Defaulted<typeof specSchema>;
export type BackupPolicyStatus = Infer<typeof statusSchema>;
export type BackupPolicyPhase = (typeof phases)[number];
export type BackupRecord = Infer<typeof backup>;
export type LastBackup = Infer<typeof lastBackup>;
export type BackupPolicy = CustomResource<typeof KIND, BackupPolicySpec, BackupPolicyStatus>;

export const crd = defineKind({
  kind: KIND,
  plural: 'backuppolicies',
  shortNames: ['bpol'],
  scope: 'Namespaced',
  description:
    'BackupPolicy backs up ymera resources (and optionally their model files and Secrets) on a schedule to S3-compatible object storage, encrypted with AES-256-GCM, keeps a bounded history, and proves backups restorable with scheduled drills into a scratch namespace. Restores are requested with a Restore.',
  spec: specSchema,
  status: statusSchema,
  conditionTypes,
  printerColumns: kindPrinterColumns('Backup health.', [
    {
      name: 'Backup',
      type: 'string',
      jsonPath: '.status.lastBackup.phase',
      description: 'Phase of the latest backup: InProgress, Completed, PartiallyFailed or Failed.',
    },
    {
      name: 'Last Backup',
      type: 'date',
      jsonPath: '.status.lastSuccessfulBackupTime',
      description: 'When the latest Completed backup finished.',
    },
    {
      name: 'Drill',
      type: 'string',
      jsonPath: '.status.lastDrill.result',
      description: 'Result of the latest drill.',
    },
  ]),
});
