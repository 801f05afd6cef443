// When a resource's Ready condition changes status or reason, consumers of
// the platform's Kafka events hear about it (status.changed), once per
// generation and verdict.
import type { Condition } from '../../operator/conditions.ts';
import type { EventSink } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { PlatformEvent } from '../../operator/kafka/events.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';

/** The new Ready condition when its status or reason differs from before; undefined otherwise. */
export function changedReady(
  before: readonly Condition[] | undefined,
  after: readonly Condition[],
): Condition | undefined {
  const was = before?.find((c) => c.type === 'Ready');
  const now = after.find((c) => c.type === 'Ready');
  return now && (was?.reason !== now.reason || was.status !== now.status) ? now : undefined;
}

/** Publishes the status.changed CloudEvent for a changed Ready condition. */
export function publishReadyChange(
  events: EventSink,
  resource: PlatformEvent['resource'],
  obj: KubeObject,
  ready: Condition,
): void {
  const generation = obj.metadata.generation ?? 0;
  events.publish({
    resource,
    object: obj,
    type: EventType.StatusChanged,
    discriminator: `${generation}:${ready.status}:${ready.reason}`,
    data: { generation, ready: ready.status === 'True', reason: ready.reason, message: ready.message },
  });
}
