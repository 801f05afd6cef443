// I/O: what a step's container wrote to its termination message (the gate's
// metrics, the model's sha256), read from the pod cache first. A Job can
// report success before the pod watch delivers the terminated pod, and what
// is read here decides for good, so a cache without a message is followed by
// one live LIST.
import type { ReconcileContext } from '../../operator/controller.ts';
import { core } from '../../operator/kube/resources.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { terminationMessageOf } from './gate.ts';

const messageOf = (pods: readonly PodObject[]) =>
  pods.map((p) => terminationMessageOf(p)).find((m) => m !== undefined && m.trim() !== '');

/** The first non-empty termination message of the pods of `job`, or undefined. */
export async function stepTerminationMessage(
  ctx: ReconcileContext,
  namespace: string | undefined,
  job: string,
): Promise<string | undefined> {
  const cached = ctx.cachedIn(core.pod, namespace, (p) => p.metadata.labels?.['job-name'] === job);
  return (
    messageOf(cached as PodObject[]) ??
    messageOf(
      (await ctx.client.list<PodObject>(core.pod, { namespace, labelSelector: `job-name=${job}` })).items,
    )
  );
}
