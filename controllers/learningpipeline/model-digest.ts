// I/O around digest.ts: the model step's reported sha256 (the termination
// message of its pod) and, with S3 artifacts, the operator's own hash of the
// model object, streamed.
import type { ReconcileContext } from '../../operator/controller.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import { hashS3Artifact } from './artifact-store.ts';
import type { Digest } from './digest.ts';
import { reportedDigest, resolveDigest } from './digest.ts';
import type { LearningPipelineObject } from './jobs.ts';
import { artifactUri, resolvedOutputPath } from './jobs.ts';
import type { LearningPipelineRun } from './schema.ts';
import { stepTerminationMessage } from './step-message.ts';

/** The digest of the model file of a succeeded run, or why it is unknown. */
export async function modelDigest(
  ctx: ReconcileContext,
  obj: LearningPipelineObject,
  run: LearningPipelineRun,
  policy: StorageAccessPolicy,
): Promise<Digest | undefined> {
  const spec = obj.spec;
  const artifact = spec.model?.outputArtifact;
  const path = artifact === undefined ? undefined : resolvedOutputPath(spec, run, artifact);
  if (artifact === undefined || path === undefined) return undefined;
  const namespace = obj.metadata.namespace ?? '';
  const producer = spec.steps.find((s) => (s.outputs ?? []).some((o) => o.name === artifact));
  const job = run.steps?.find((s) => s.name === producer?.name)?.job;
  const message = job ? await stepTerminationMessage(ctx, namespace, job) : undefined;
  const reported = reportedDigest(message);
  const s3 = spec.artifacts.s3;
  const computed = s3
    ? await hashS3Artifact(
        ctx.client,
        namespace,
        s3,
        artifactUri(spec, run.id, path).slice(`s3://${s3.bucket}/`.length),
        policy,
      )
    : undefined;
  return resolveDigest(spec, producer?.name, reported, computed);
}
