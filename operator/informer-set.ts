// One logical cache over several informers of the same type: one per watched
// namespace when the operator is restricted to some namespaces, or a single
// cluster-wide one.
import type { Informer, InformerHandler } from './informer.ts';
import type { KubeObject } from './kube/resources.ts';
import { splitKey } from './kube/resources.ts';

export class InformerSet<T extends KubeObject> {
  private readonly byNamespace: Map<string, Informer<T>>;
  private readonly all: Informer<T>[];

  /** `informers` maps a namespace ('' = cluster-wide) to its informer. */
  constructor(informers: Map<string, Informer<T>>) {
    this.byNamespace = informers;
    this.all = [...informers.values()];
  }

  on(handler: InformerHandler<T>): void {
    for (const informer of this.all) informer.on(handler);
  }

  get(key: string): T | undefined {
    const cluster = this.byNamespace.get('');
    if (cluster) return cluster.get(key);
    const { namespace } = splitKey(key);
    return namespace === undefined ? undefined : this.byNamespace.get(namespace)?.get(key);
  }

  list(filter?: (obj: T) => boolean): T[] {
    return this.all.flatMap((informer) => informer.list(filter));
  }

  /** Cached objects whose controller ownerReference has this uid (an index, not a scan). */
  controlledBy(uid: string): T[] {
    return this.all.flatMap((informer) => informer.controlledBy(uid));
  }

  hasSynced(): boolean {
    return this.all.every((informer) => informer.hasSynced());
  }

  start(): void {
    for (const informer of this.all) informer.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.all.map((informer) => informer.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((informer) => informer.stop()));
  }
}
