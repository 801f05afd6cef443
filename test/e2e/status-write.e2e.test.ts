// ReconcileContext.writeStatus against the real API server: a write from a
// stale object is a conflict (requeued quietly), a status the schema rejects
// stays a 422 naming the field (a bug to see in the logs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReconcileContext } from '../../operator/controller.ts';
import type { EventRecorder } from '../../operator/events.ts';
import { isConflict, KubeApiError, KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { createLogger } from '../../operator/logger.ts';
import { crd } from '../../controllers/learningpipeline/schema.ts';
import { freshNamespace, kubectl } from './support.ts';

const type = resourceTypeOf(crd);
let ns: string;
let client: KubeClient;
let ctx: ReconcileContext;

beforeAll(async () => {
  ns = await freshNamespace('e2e-status');
  client = KubeClient.fromEnvironment();
  const none = () => {
    throw new Error('no informers in this test');
  };
  ctx = new ReconcileContext({
    client,
    log: createLogger({ level: 'error' }),
    events: {} as EventRecorder, // not used by writeStatus
    informers: none,
    primaries: none,
  });
});

afterAll(async () => {
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('writeStatus', () => {
  it('turns a write from a stale object into a conflict, and keeps schema errors as they are', async () => {
    const created = await client.create<KubeObject>(type, {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'LearningPipeline',
      metadata: { name: 'p', namespace: ns },
      spec: { artifacts: { s3: { bucket: 'ymera-artifacts' } }, steps: [{ name: 'a', image: 'busybox' }] },
    } as KubeObject);
    expect(await ctx.writeStatus(type, created, { observedGeneration: 1, phase: 'Idle' })).toBe(true);

    // `created` is now stale: its resourceVersion is older than the stored one
    const stale = ctx.writeStatus(type, created, { observedGeneration: 1, phase: 'Running' });
    await expect(stale).rejects.toSatisfy((e: unknown) => isConflict(e));

    const current = (await client.get<KubeObject>(type, 'p', ns)) as KubeObject;
    const invalid = ctx.writeStatus(type, current, { observedGeneration: 1, phase: 'Sleeping' });
    await expect(invalid).rejects.toSatisfy(
      (e: unknown) => e instanceof KubeApiError && e.status === 422 && /phase/.test(e.message),
    );
  });
});
