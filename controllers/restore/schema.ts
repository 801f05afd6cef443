// Restore (ymrestore): a one-shot request to restore a backup taken by a
// BackupPolicy.
//
// Why a separate kind rather than a field of BackupPolicy:
// - A restore is an event, not a desired state. As a spec field of the policy
//   (e.g. `restore: {backupId}`) it would sit in Git forever and every later
//   edit or re-sync would have to work out whether it means "restore again";
//   clearing it afterwards would make the live object drift from Git.
// - As its own object it can live in Git (Argo CD applies it once; the object
//   then stays Succeeded, and re-applying the same manifest is a no-op) or be
//   created imperatively (`kubectl create -f`), and its status is the
//   restore's own record: which backup was resolved, what was restored, when.
// - RBAC can grant "may restore" separately from "may change backup policy".
// - The spec is immutable (CEL transition rule): a different restore is a new
//   object, so nothing is ever restored twice by accident. `backupId` left
//   empty means the latest backup; the one chosen is pinned in
//   status.backupId on first reconcile, so the object's meaning never changes.
// The short name is ymrestore (not `restore`) to stay clear of Velero's
// Restore kind on clusters that run both.
import { s } from '../../operator/schema/builder.ts';
import type { Defaulted, Infer } from '../../operator/schema/builder.ts';
import {
  dnsLabel,
  dnsSubdomain,
  kindPrinterColumns,
  statusObject,
  statusPhase,
} from '../../operator/schema/common.ts';
import { defineKind } from '../../operator/schema/crd.ts';
import type { CustomResource } from '../../operator/schema/crd.ts';
import { KIND_NAME_PATTERN } from '../backuppolicy/schema.ts';

export const KIND = 'Restore';

export const conditionTypes = ['Succeeded'] as const;

export const phases = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;

export const specSchema = s.object(
  {
    backupPolicyRef: s.object(
      { name: dnsSubdomain('Name of the BackupPolicy, in the same namespace as the Restore.') },
      { description: 'The BackupPolicy whose storage (and encryption key) holds the backup.' },
    ),
    backupId: s.optional(
      s.string({
        description:
          "ID of the backup to restore, as listed in the policy's status.backups. Default: the latest backup when the Restore is first reconciled (recorded in status.backupId).",
        minLength: 1,
        maxLength: 63,
        pattern: '^[A-Za-z0-9][-A-Za-z0-9_.]*$',
      }),
    ),
    targetNamespace: s.optional(
      dnsLabel(
        "Restore every object into this namespace instead of its original one. Default: each object's original namespace.",
      ),
    ),
    kinds: s.optional(
      s.array(s.string({ minLength: 1, maxLength: 253, pattern: KIND_NAME_PATTERN }), {
        description:
          'Restore only these kinds (as named in BackupPolicy include.kinds). Default: everything in the backup.',
        minItems: 1,
        maxItems: 32,
        listType: 'set',
      }),
    ),
    conflictPolicy: s.enum(['Skip', 'Overwrite'], {
      description:
        'What to do with an object that already exists: Skip it (default) or Overwrite it with the backed-up version.',
      default: 'Skip',
    }),
    modelArtifacts: s.boolean({
      description:
        'Also copy model files saved in the backup back to their original s3:// locations (skipped where the same sha256 is already there).',
      default: false,
    }),
    dryRun: s.boolean({
      description:
        'Verify the backup and record the plan (create / skip / overwrite / conflict per object) in status.plan; write nothing.',
      default: false,
    }),
  },
  {
    description: 'What to restore. Immutable: to restore again, create a new Restore.',
    validations: [
      { rule: 'self == oldSelf', message: 'a Restore cannot be changed; create a new Restore instead' },
    ],
  },
);

/** Objects listed in status.plan and errors listed in status.errors; the counts cover all. */
export const MAX_PLAN_LISTED = 100;
export const MAX_ERRORS_LISTED = 20;

const planEntry = s.object(
  {
    action: s.enum(['create', 'skip', 'overwrite', 'conflict'], { description: 'What the restore does.' }),
    kind: s.string({ description: 'Kind of the object.', maxLength: 63 }),
    namespace: s.optional(s.string({ description: 'Namespace it is restored to.', maxLength: 63 })),
    name: s.string({ description: 'Name of the object.', maxLength: 253 }),
    reason: s.optional(s.string({ description: 'Why skip or conflict.', maxLength: 1024 })),
  },
  { description: 'One object of the plan.' },
);

const plan = s.object(
  {
    create: s.integer({ description: 'Objects to create.', minimum: 0 }),
    skip: s.integer({ description: 'Objects that exist and are skipped (conflictPolicy Skip).', minimum: 0 }),
    overwrite: s.integer({
      description: 'Objects that exist and are overwritten (conflictPolicy Overwrite).',
      minimum: 0,
    }),
    conflict: s.integer({ description: 'Objects that cannot be restored (see reason).', minimum: 0 }),
    objects: s.optional(
      s.array(planEntry, {
        description: `The objects in restore order (the first ${MAX_PLAN_LISTED}).`,
        maxItems: MAX_PLAN_LISTED,
      }),
    ),
  },
  { description: 'What the restore does (or, with dryRun, would do) with each object of the backup.' },
);

const itemError = s.object(
  {
    what: s.string({
      description: 'The object or model file (kind namespace/name, or model <source>).',
      maxLength: 1024,
    }),
    message: s.string({ description: 'What went wrong.', maxLength: 1024 }),
  },
  { description: 'An object or model that could not be restored.' },
);

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(
    phases,
    'Pending (waiting for the policy, its key or a backup), Running, Succeeded or Failed. Succeeded and Failed are final: a Restore never runs again.',
  ),
  backupId: s.optional(
    s.string({ description: 'The backup being restored (resolved once, then fixed).', maxLength: 63 }),
  ),
  startTime: s.optional(s.dateTime({ description: 'When the restore started.' })),
  completionTime: s.optional(s.dateTime({ description: 'When the restore finished.' })),
  restoredObjects: s.optional(s.integer({ description: 'Objects created or overwritten.', minimum: 0 })),
  skippedObjects: s.optional(
    s.integer({ description: 'Objects skipped because they already existed.', minimum: 0 }),
  ),
  failedObjects: s.optional(s.integer({ description: 'Objects that could not be restored.', minimum: 0 })),
  message: s.optional(s.string({ description: 'Summary of the outcome.', maxLength: 4096 })),
  manifestSha256: s.optional(
    s.string({
      description: "SHA-256 of the backup's manifest.json: names the exact content restored.",
      maxLength: 64,
    }),
  ),
  plan: s.optional(plan),
  errors: s.optional(
    s.array(itemError, {
      description: `Objects and model files that could not be restored (the first ${MAX_ERRORS_LISTED}; failedObjects counts all).`,
      maxItems: MAX_ERRORS_LISTED,
    }),
  ),
});

export type RestoreSpec = Infer<typeof specSchema>;
export type RestoreSpecDefaulted = Defaulted<typeof specSchema>;
export type RestoreStatus = Infer<typeof statusSchema>;
export type RestorePhase = (typeof phases)[number];
export type Restore = CustomResource<typeof KIND, RestoreSpec, RestoreStatus>;

export const crd = defineKind({
  kind: KIND,
  plural: 'restores',
  shortNames: ['ymrestore'],
  scope: 'Namespaced',
  description:
    'Restore is a one-shot request to restore a backup of a BackupPolicy (the latest one, or a given backup ID), optionally into another namespace. Its spec is immutable and its status records what was restored.',
  spec: specSchema,
  status: statusSchema,
  conditionTypes,
  printerColumns: kindPrinterColumns('State of the restore.', [
    {
      name: 'Policy',
      type: 'string',
      jsonPath: '.spec.backupPolicyRef.name',
      description: 'BackupPolicy restored from.',
    },
    { name: 'Backup', type: 'string', jsonPath: '.status.backupId', description: 'Backup restored.' },
  ]),
});
