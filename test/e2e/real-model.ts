// The fraud model in MinIO and the Secret the runtime reads it with, for
// InferenceServices whose pods really run on the real node (as
// real-node-inferenceservice.e2e.test.ts sets them up).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import { FRAUD_MODEL, MODEL_SHA256 } from '../../runtime/models/fraud-reference.ts';
import { kubectlOk } from './support.ts';

const BUCKET = 'ymera-models';
export const MODEL_SECRET = 'model-store';

export interface RealModel {
  uri: string;
  /** Deletes the model from MinIO. */
  cleanup(): Promise<void>;
}

/** Uploads the model, creates the Secret in `ns` and labels `ns` restricted (the operator's pods meet it). */
export async function setUpRealModel(ns: string): Promise<RealModel> {
  await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  const cfg = objectStoreConfigFromEnv(process.env);
  if (!cfg) throw new Error('YMERA_S3_ENDPOINT is unset: the e2e stack provides MinIO');
  const podEndpoint = process.env.YMERA_POD_S3_ENDPOINT;
  if (!podEndpoint) throw new Error('YMERA_POD_S3_ENDPOINT is unset: test/e2e/stack/minio.sh env exports it');
  const store = createObjectStore({ ...cfg, bucket: BUCKET, timeoutMs: 15_000 });
  await store.ensureBucket();
  const key = `e2e/real-model/${ns}/${randomUUID().slice(0, 8)}/fraud.onnx`;
  await store.put(key, readFileSync(FRAUD_MODEL));
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: MODEL_SECRET },
      stringData: {
        AWS_ENDPOINT_URL: podEndpoint,
        AWS_ACCESS_KEY_ID: cfg.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: cfg.credentials.secretAccessKey,
        AWS_REGION: cfg.region,
      },
    }),
  );
  return {
    uri: `s3://${BUCKET}/${key}`,
    async cleanup() {
      await store.delete(key).catch(() => undefined);
      store.close();
    },
  };
}

/** spec.model of the real model (v1, sha256 checked). */
export const realModelSpec = (uri: string) => ({
  uri,
  version: 'v1',
  sha256: MODEL_SHA256['fraud.onnx'],
  credentialsSecret: { name: MODEL_SECRET },
});
