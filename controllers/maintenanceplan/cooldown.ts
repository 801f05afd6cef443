// The per-node cooldown's memory. status.history is bounded (historyLimit),
// so a node whose entry fell out of it looked never maintained and could be
// acted on again at once. The end of every maintenance is therefore also
// written on the node itself (LAST_MAINTENANCE_ANNOTATION, at finish, by the
// plan's field manager), which no truncation, plan re-creation or operator
// restart loses. The cooldown reads the later of both.
import type { ReconcileContext } from '../../operator/controller.ts';
import { isNotFound } from '../../operator/kube/client.ts';
import { core } from '../../operator/kube/resources.ts';
import type { HistoryEntry } from './planner.ts';

/** Node annotation: RFC 3339 time the latest maintenance of the node finished. */
export const LAST_MAINTENANCE_ANNOTATION = 'ymera.io/last-maintenance';

/** Pure: each node's last maintenance end (ms) read from its annotation; unparseable values are ignored. */
export function lastMaintenanceFromNodes(
  nodes: readonly { metadata: { name: string; annotations?: Record<string, string> } }[],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of nodes) {
    const t = Date.parse(n.metadata.annotations?.[LAST_MAINTENANCE_ANNOTATION] ?? '');
    if (Number.isFinite(t)) out.set(n.metadata.name, t);
  }
  return out;
}

/** Pure: the later time per node of several sources. */
export function latestPerNode(...sources: (ReadonlyMap<string, number> | undefined)[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of sources)
    for (const [node, t] of s ?? []) if (t > (out.get(node) ?? -Infinity)) out.set(node, t);
  return out;
}

/**
 * I/O: stamps the node with the end of its maintenance (merge patch, the
 * operator's field manager). A node that is gone needs no cooldown.
 */
export async function recordLastMaintenance(ctx: ReconcileContext, finished: HistoryEntry): Promise<void> {
  try {
    await ctx.client.patch(core.node, finished.node, undefined, 'merge', {
      metadata: {
        annotations: { [LAST_MAINTENANCE_ANNOTATION]: finished.completionTime ?? finished.startTime },
      },
    });
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}
