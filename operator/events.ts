// Kubernetes Events (events.k8s.io/v1) for what a user should see in
// `kubectl describe`. Identical events within a window are sent once, so a
// requeue loop cannot flood the API server.
import { randomBytes } from 'node:crypto';
import type { KubeClient } from './kube/client.ts';
import type { KubeObject } from './kube/resources.ts';
import { core } from './kube/resources.ts';
import { microTime } from './leader.ts';
import type { Logger } from './logger.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: KubeClient;
  controller: string; // reportingController, e.g. ymera.io/inferenceservice-controller
  instance: string; // reportingInstance: this replica's identity
  logger: Logger;
  onRecorded?: (type: EventType, reason: string) => void;
  dedupeWindowMs?: number;
  now?: () => number;
}

/**
 * What makes two events identical for the dedupe window: the object (kind,
 * namespace, name and uid: a caller may pass a reference without a uid, e.g.
 * a Node by name) and the event's type, reason and note.
 */
export function dedupeKey(regarding: KubeObject, type: EventType, reason: string, note: string): string {
  const m = regarding.metadata;
  return [regarding.kind, m.namespace ?? '', m.name, m.uid ?? '', type, reason, note].join('|');
}

export class EventRecorder {
  private readonly o: EventRecorderOptions;
  private readonly recent = new Map<string, number>();

  constructor(options: EventRecorderOptions) {
    this.o = options;
  }

  /** Records an event about `regarding`; failures are logged, never thrown. */
  async record(
    regarding: KubeObject,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    const window = this.o.dedupeWindowMs ?? 10 * 60_000;
    const key = dedupeKey(regarding, type, reason, note);
    const last = this.recent.get(key);
    if (last !== undefined && now - last < window) return;
    this.recent.set(key, now);
    this.prune(now, window);
    const namespace = regarding.metadata.namespace ?? 'default';
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: {
        name: `${regarding.metadata.name}.${randomBytes(8).toString('hex')}`,
        namespace,
      },
      eventTime: microTime(now),
      reportingController: this.o.controller,
      reportingInstance: this.o.instance.slice(0, 128),
      action,
      reason,
      type,
      note: note.slice(0, 1024),
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.metadata.name,
        namespace: regarding.metadata.namespace,
        uid: regarding.metadata.uid,
        resourceVersion: regarding.metadata.resourceVersion,
      },
    };
    try {
      await this.o.client.create(core.event, event);
      this.o.onRecorded?.(type, reason);
    } catch (e) {
      this.recent.delete(key);
      this.o.logger.warn('could not record event', { reason, error: e });
    }
  }

  private prune(now: number, window: number): void {
    if (this.recent.size < 1000) return;
    for (const [key, at] of this.recent) if (now - at >= window) this.recent.delete(key);
  }
}
