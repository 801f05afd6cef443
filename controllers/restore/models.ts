// Where a restored model file goes back to: its s3:// source, written with
// the credentials of the restored InferenceService that serves it (its
// spec.model.credentialsSecret, in the Restore's namespace: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, as the model download
// uses them), under the storage egress policy (refused CIDRs; the operator's
// own credentials only at endpoints the admin allows). Never another
// namespace's Secret: a Restore reaches only what its namespace may.
import type { KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import { parseS3Uri } from '../../operator/storage/addressing.ts';
import { createObjectStore } from '../../operator/storage/s3.ts';
import type { CleanObject } from '../backuppolicy/clean.ts';
import { secretText } from '../backuppolicy/model-source.ts';
import { locationConnection } from '../learningpipeline/artifact-access.ts';
import type { S3Location } from '../learningpipeline/artifact-access.ts';
import { credentialsFor } from '../learningpipeline/artifact-store.ts';
import type { ModelTarget } from './engine.ts';

/** s3://bucket/key → bucket and key, or undefined (not s3://, an invalid bucket, no key). */
function s3Object(uri: string): { bucket: string; key: string } | undefined {
  try {
    const where = parseS3Uri(uri);
    return where.key ? where : undefined;
  } catch {
    return undefined;
  }
}

type SecretObject = KubeObject & { data?: Record<string, string> };

/** The engine's modelTarget for a Restore in `namespace`. */
export function modelTargetFor(
  client: KubeClient,
  namespace: string,
  access: StorageAccessPolicy,
): (source: string, users: readonly CleanObject[]) => Promise<ModelTarget> {
  return async (source, users) => {
    const where = s3Object(source);
    if (!where) return { error: 'only s3://bucket/key model sources are restored' };
    const user = users.find(
      (u) =>
        (u.spec as { model?: { credentialsSecret?: { name?: string } } } | undefined)?.model
          ?.credentialsSecret,
    );
    const secretName = (user?.spec as { model?: { credentialsSecret?: { name: string } } } | undefined)?.model
      ?.credentialsSecret?.name;
    if (!user || !secretName)
      return {
        error:
          users.length === 0
            ? 'no restored InferenceService serves it (its credentials are the ones used to write it back)'
            : `InferenceService ${users[0]?.metadata.name ?? ''} names no spec.model.credentialsSecret to write it back with`,
      };
    const secret = await client.get<SecretObject>(core.secret, secretName, namespace);
    const endpoint = secretText(secret?.data?.AWS_ENDPOINT_URL) || undefined;
    const region = secretText(secret?.data?.AWS_REGION) || undefined;
    const location: S3Location = {
      bucket: where.bucket,
      ...(endpoint ? { endpoint } : {}),
      ...(region ? { region } : {}),
      forcePathStyle: endpoint !== undefined,
      credentialsSecret: { name: secretName },
    } as S3Location;
    const field = `InferenceService ${user.metadata.name} spec.model`;
    const credentials = await credentialsFor(client, namespace, location, access, field);
    if (typeof credentials !== 'function' && 'error' in credentials) return { error: credentials.error };
    try {
      const store = createObjectStore({
        ...locationConnection(location),
        bucket: where.bucket,
        credentials,
        timeoutMs: 30_000,
        refusedCidrs: access.refusedCidrs,
      });
      return { store, key: where.key, close: () => store.close() };
    } catch (e) {
      return { error: `${field}: ${(e as Error).message}` };
    }
  };
}
