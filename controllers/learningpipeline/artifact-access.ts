// Pure: how the operator may read a pipeline's S3 artifacts. A pipeline
// names a Secret of its own namespace for credentials; without one, the
// operator lends its own (ambient) identity — its keys, or the AWS SDK's
// chain: web identity (IRSA), EKS Pod Identity, instance metadata — only to
// endpoints the cluster admin lists (--s3-ambient-credentials-endpoints), so
// a user cannot point the operator's identity at a server of their choosing.
import { ambientCredentialsAllowed } from '../../operator/storage/egress.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import type { Credentials, CredentialsProvider } from '../../operator/storage/credentials.ts';
import { MAX_METRICS_BYTES } from './gate.ts';
import type { LearningPipelineSpec } from './schema.ts';

export type S3Location = NonNullable<LearningPipelineSpec['artifacts']['s3']>;

export const AMBIENT_FLAG = '--s3-ambient-credentials-endpoints';
export const MAX_READ_FLAG = '--s3-max-read-bytes';

/** The endpoint a location is read from: its own, else AWS S3 of its region. */
export function artifactEndpoint(s3: S3Location): string {
  return s3.endpoint ?? `https://s3.${s3.region ?? 'us-east-1'}.amazonaws.com`;
}

/** How a store of the location connects: endpoint, region (default us-east-1) and addressing. */
export function locationConnection(s3: S3Location): {
  endpoint: string;
  region: string;
  addressing: 'path' | 'virtual-host';
} {
  return {
    endpoint: artifactEndpoint(s3),
    region: s3.region ?? 'us-east-1',
    addressing: s3.forcePathStyle ? 'path' : 'virtual-host',
  };
}

export type CredentialsSource =
  /** A Secret, always in the pipeline's own namespace. */
  | { secret: { namespace: string; name: string } }
  | { ambient: Credentials | CredentialsProvider }
  | { error: string };

/**
 * Where the credentials for reading `s3` come from: the pipeline's
 * credentialsSecret (in `namespace`, the pipeline's, whatever else the
 * reference might carry), or the operator's own when the admin allows the
 * endpoint; otherwise why not, naming the field and what is allowed.
 */
export function credentialsSource(
  namespace: string,
  s3: S3Location,
  policy: StorageAccessPolicy,
  ambient: Credentials | CredentialsProvider | undefined,
  /** The location's field, for messages (a BackupPolicy's is spec.storage.s3). */
  field = 'spec.artifacts.s3',
): CredentialsSource {
  const ref = s3.credentialsSecret;
  if (ref) return { secret: { namespace, name: ref.name } };
  const endpoint = artifactEndpoint(s3);
  if (!ambientCredentialsAllowed(endpoint, policy.ambientCredentialsEndpoints)) {
    const listed = policy.ambientCredentialsEndpoints;
    const allowed = listed.length > 0 ? `only ${listed.join(', ')}` : 'none';
    return {
      error:
        `${field}.credentialsSecret is not set, and ${endpoint} is not an endpoint where the ` +
        `operator may use its own credentials (allowed by the cluster admin through ${AMBIENT_FLAG}: ${allowed}); ` +
        `set ${field}.credentialsSecret to a Secret in namespace ${namespace} with the keys ` +
        'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    };
  }
  if (!ambient) {
    return {
      error:
        `${field}.credentialsSecret is not set and the operator has no credentials of its own ` +
        '(YMERA_S3_ACCESS_KEY/YMERA_S3_SECRET_KEY or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)',
    };
  }
  return { ambient };
}

/** The cap on reading a metrics artifact: the admin's cap, and never more than the gate accepts. */
export function metricsReadCap(policy: StorageAccessPolicy): number {
  return Math.min(policy.maxReadBytes, MAX_METRICS_BYTES);
}
