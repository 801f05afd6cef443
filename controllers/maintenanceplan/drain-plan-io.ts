// The I/O of drain plans: one list of nodes, pods and PodDisruptionBudgets
// (cluster-wide: evicted pods may go to any node, PDBs live in the pods'
// namespaces) per evaluation that has maintenance waiting or starting; the
// decisions are drain-plan.ts's. Nothing is listed when nothing waits.
import type { ReconcileContext } from '../../operator/controller.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import type { DrainPlan, NodeObject, PdbObject, PodObject } from './drain-plan.ts';
import { drainPlan, planNode, planPdb, planPod } from './drain-plan.ts';
import type { MaintenanceAction } from './schema.ts';

/** The drain plan of each candidate node; empty (and logged) when the cluster cannot be read. */
export async function readDrainPlans(
  ctx: ReconcileContext,
  input: {
    candidates: readonly string[];
    /** Nodes under maintenance now: not counted as room. */
    running: readonly string[];
    drain: NonNullable<MaintenanceAction['drain']> | undefined;
    now: Date;
  },
): Promise<Map<string, DrainPlan>> {
  const out = new Map<string, DrainPlan>();
  if (!input.candidates.length) return out;
  try {
    const [nodes, pods, pdbs] = await Promise.all([
      ctx.client.list<KubeObject & NodeObject>(core.node),
      ctx.client.list<KubeObject & PodObject>(core.pod),
      ctx.client.list<KubeObject & PdbObject>(core.pdb),
    ]);
    const planNodes = nodes.items.map(planNode);
    const planPods = pods.items.map(planPod);
    const planPdbs = pdbs.items.map(planPdb);
    // every candidate may start in the same pass: none counts as room for another
    const unavailable = new Set([...input.running, ...input.candidates]);
    for (const node of input.candidates)
      out.set(
        node,
        drainPlan({
          node,
          pods: planPods,
          nodes: planNodes,
          pdbs: planPdbs,
          drain: input.drain,
          unavailable,
          now: input.now,
        }),
      );
  } catch (e) {
    // no drain plan is no reason to stop: the drain itself still honours PDBs
    ctx.log.warn('drain plan unavailable', { error: (e as Error).message });
  }
  return out;
}
