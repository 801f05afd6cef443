// Creates buckets (idempotent) with the operator's own S3 client, so the local
// stack needs no `mc`. Used by minio.sh:
//   YMERA_S3_ENDPOINT=… YMERA_S3_ACCESS_KEY=… YMERA_S3_SECRET_KEY=… node minio-buckets.ts b1 b2 …
import { createObjectStore, objectStoreConfigFromEnv } from '../../../operator/storage/s3.ts';

const config = objectStoreConfigFromEnv();
if (!config) {
  process.stderr.write('minio-buckets: YMERA_S3_ENDPOINT is not set\n');
  process.exit(2);
}
let failed = false;
for (const bucket of process.argv.slice(2)) {
  const store = createObjectStore({ ...config, bucket, timeoutMs: 15_000 });
  try {
    const created = await store.ensureBucket();
    process.stderr.write(`[minio] bucket ${bucket}: ${created ? 'created' : 'exists'}\n`);
  } catch (error) {
    failed = true;
    process.stderr.write(`[minio] bucket ${bucket}: ${(error as Error).message}\n`);
  } finally {
    store.close();
  }
}
process.exit(failed ? 1 : 0);
