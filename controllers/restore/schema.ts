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
      description: 'Also copy model files saved in the backup back to their original locations.',
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

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(phases, 'Pending, Running, Succeeded or Failed. Succeeded and Failed are final.'),
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
