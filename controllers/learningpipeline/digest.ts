// Pure: the SHA-256 of a run's model file. With S3 artifacts the operator
// hashes the object itself; a PVC it cannot read (it mounts no tenant
// volumes), so there the step that writes the model must report the digest
// in its termination message as {"sha256": "<64 hex digits>"} (it may share
// the message with gate metrics). A model whose digest is unknown is not
// promoted: an unpinned model could be swapped under the InferenceService.
import type { LearningPipelineSpec } from './schema.ts';

const SHA256 = /^[a-fA-F0-9]{64}$/;

export type Reported = { sha256: string } | { error: string } | undefined;

/**
 * The digest a step reported in its termination message: undefined when it
 * reported none (no message, not a JSON object, or no sha256 key).
 */
export function reportedDigest(message: string | undefined): Reported {
  if (message === undefined || message.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  if (!Object.hasOwn(parsed, 'sha256')) return undefined;
  const value = (parsed as { sha256: unknown }).sha256;
  if (typeof value !== 'string' || !SHA256.test(value))
    return { error: 'the sha256 in its termination message is not 64 hex digits' };
  return { sha256: value.toLowerCase() };
}

/** What the operator found hashing the S3 object; `transient` when trying again may succeed. */
export type Computed = { sha256: string } | { error: string; transient: boolean };

export type Digest = { sha256: string } | { error: string; retry: boolean };

/** How a pipeline's model gets a known digest, for messages. */
export function digestHowTo(spec: LearningPipelineSpec, step: string | undefined): string {
  const who = step ? `step ${step}` : 'the step that writes the model';
  return spec.artifacts.s3
    ? `the operator hashes the S3 object itself; ${who} may also report it`
    : `the operator cannot read a PVC: ${who} must write {"sha256": "<hex digest of the model file>"} to /dev/termination-log`;
}

/**
 * The model's digest from what was observed: the computed one for S3 (a
 * step's report must agree with it), the reported one for a PVC.
 */
export function resolveDigest(
  spec: LearningPipelineSpec,
  step: string | undefined,
  reported: Reported,
  computed: Computed | undefined,
): Digest {
  const who = step ? `step ${step}` : 'the model step';
  if (reported && 'error' in reported) return { error: `${who}: ${reported.error}`, retry: false };
  if (spec.artifacts.s3) {
    if (!computed) return { error: 'the model file was not hashed', retry: true };
    if ('error' in computed) return { error: computed.error, retry: computed.transient };
    if (reported && reported.sha256 !== computed.sha256) {
      return {
        error: `${who} reported sha256 ${reported.sha256} but the model file hashes to ${computed.sha256}`,
        retry: false,
      };
    }
    return { sha256: computed.sha256 };
  }
  if (reported) return { sha256: reported.sha256 };
  return { error: `${who} reported no sha256 (${digestHowTo(spec, step)})`, retry: false };
}
