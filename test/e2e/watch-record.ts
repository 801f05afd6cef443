// Records every change of the objects a list+watch selects, from a list's
// resourceVersion on, without gaps: a watch the server ends (timeoutSeconds)
// is reopened from the last resourceVersion seen. Tests use it for "never"
// assertions (a node never cordoned, a Service never without a ready
// endpoint), which polling cannot prove: a short transition between two
// polls is invisible, but every transition is a watch event.
import type { ListOptions, WatchEvent } from '../../operator/kube/client.ts';
import { KubeClient, isGone } from '../../operator/kube/client.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';

export const endpointSliceType: ResourceType = {
  group: 'discovery.k8s.io',
  version: 'v1',
  kind: 'EndpointSlice',
  plural: 'endpointslices',
  namespaced: true,
};

export type WatchRecord<T extends KubeObject> = {
  /** The objects the list returned. */
  initial: T[];
  /** Every ADDED, MODIFIED and DELETED since, in order. */
  events: WatchEvent<T>[];
  /** Throws when the record has a gap (the server expired our resourceVersion, 410). */
  complete(): void;
  /** Stops watching; the record stays readable. */
  stop(): Promise<void>;
};

/** Lists `type` with `opts`, then watches from there until stop(). */
export async function recordWatch<T extends KubeObject>(
  type: ResourceType,
  opts: ListOptions = {},
  client: KubeClient = KubeClient.fromEnvironment(),
): Promise<WatchRecord<T>> {
  const listed = await client.list<T>(type, opts);
  const events: WatchEvent<T>[] = [];
  const abort = new AbortController();
  let rv = listed.resourceVersion;
  let gap: Error | undefined;
  const loop = (async () => {
    while (!abort.signal.aborted && !gap) {
      try {
        await client.watch<T>(
          type,
          { ...opts, resourceVersion: rv, timeoutSeconds: 60, signal: abort.signal },
          (ev) => {
            if (ev.object.metadata.resourceVersion) rv = ev.object.metadata.resourceVersion;
            if (ev.type !== 'BOOKMARK') events.push(ev);
          },
        );
      } catch (e) {
        if (isGone(e)) gap = new Error(`watch ${type.plural}: resourceVersion ${rv} expired, events lost`);
        // a dropped connection: reopen from the last resourceVersion (nothing is lost)
        else if (!abort.signal.aborted) await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  return {
    initial: listed.items,
    events,
    complete() {
      if (gap) throw gap;
    },
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

/**
 * Every state of the selected set of objects the record saw (after the list,
 * then after each event), as name → object.
 */
export function states<T extends KubeObject>(record: WatchRecord<T>): Map<string, T>[] {
  const current = new Map(record.initial.map((o) => [o.metadata.name, o]));
  const out = [new Map(current)];
  for (const ev of record.events) {
    if (ev.type === 'DELETED') current.delete(ev.object.metadata.name);
    else current.set(ev.object.metadata.name, ev.object);
    out.push(new Map(current));
  }
  return out;
}
