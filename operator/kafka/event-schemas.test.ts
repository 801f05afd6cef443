// The published JSON Schemas of the CloudEvents the operator emits
// (operator/kafka/schemas/events/<type>.json): every event type a controller
// emits has one (a new type without a schema fails here), every schema
// compiles, and events built by the real builder functions, as consumers see
// them (the JSON on the wire), match the schema of their type.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { backupEvent } from '../../controllers/backuppolicy/events.ts';
import {
  deletedEvent,
  modelRegisteredEvent,
  runFinishedEvent,
  runStartedEvent,
  stepFailedEvent,
  stepRetriedEvent,
  sweepCompletedEvent,
} from '../../controllers/learningpipeline/cloud-events.ts';
import type { PipelineEvent } from '../../controllers/learningpipeline/cloud-events.ts';
import { MaintenanceEventType, massFlagEvent } from '../../controllers/maintenanceplan/events.ts';
import { publishReadyChange } from '../../controllers/shared/ready-change.ts';
import type { PlatformEvent } from './events.ts';
import { EventType, toCloudEvent } from './events.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const dir = path.join(repo, 'operator/kafka/schemas/events');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const schemas = files.map(
  (f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>,
);
const ajv = new Ajv({ strict: true, allErrors: true });
for (const s of schemas) ajv.addSchema(s);
const validatorOf = (type: string): ValidateFunction => {
  const fn = ajv.getSchema(`https://ymera.io/schemas/events/${type}.json`);
  if (!fn) throw new Error(`no published schema for ${type}`);
  return fn;
};

/** What a consumer reads: the CloudEvent as JSON. */
const wire = (e: PlatformEvent, now = new Date('2026-12-05T10:00:00Z')) =>
  JSON.parse(JSON.stringify(toCloudEvent(e, now))) as { type: string };

function check(e: PlatformEvent): void {
  const event = wire(e);
  const validate = validatorOf(event.type);
  expect(validate(event), `${event.type}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

const resource = (kind: string) => ({
  group: 'ymera.io',
  version: 'v1alpha1',
  kind,
  plural: `${kind.toLowerCase()}s`,
  namespaced: true,
});
const object = {
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'LearningPipeline',
  metadata: { name: 'p', namespace: 'ns', uid: 'u-1', generation: 3 },
};
const lp = (e: PipelineEvent): PlatformEvent => ({ resource: resource('LearningPipeline'), object, ...e });

/**
 * The (kind, type) pairs the controllers emit, read from their source: each
 * `EventType.X` / `MaintenanceEventType.X` under controllers/<kind>/, and
 * status.changed where publishReadyChange is called.
 */
function emittedTypes(): string[] {
  const root = path.join(repo, 'controllers');
  const names: Record<string, Record<string, string>> = { EventType, MaintenanceEventType };
  const out = new Set<string>();
  for (const kind of readdirSync(root)) {
    if (kind === 'shared' || kind === 'argo-health' || !/^[a-z]+$/.test(kind)) continue;
    const folder = path.join(root, kind);
    let entries: string[];
    try {
      entries = readdirSync(folder, { recursive: true }) as string[];
    } catch {
      continue;
    }
    for (const file of entries.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const text = readFileSync(path.join(folder, file), 'utf8');
      for (const m of text.matchAll(/\b(EventType|MaintenanceEventType)\.(\w+)/g)) {
        const value = names[m[1] as string]?.[m[2] as string];
        if (value) out.add(`io.ymera.${kind}.${value}`);
      }
      if (text.includes('publishReadyChange(')) out.add(`io.ymera.${kind}.${EventType.StatusChanged}`);
    }
  }
  return [...out].sort();
}

describe('published CloudEvent schemas', () => {
  it('has a schema for every event type a controller emits', () => {
    const emitted = emittedTypes();
    // the scan itself works: it finds types of several kinds
    expect(emitted).toEqual(
      expect.arrayContaining([
        'io.ymera.learningpipeline.run.started',
        'io.ymera.inferenceservice.rollback.performed',
        'io.ymera.maintenanceplan.massflag.stopped',
        'io.ymera.backuppolicy.backup.completed',
      ]),
    );
    const missing = emitted.filter((t) => !files.includes(`${t}.json`));
    expect(missing, 'add operator/kafka/schemas/events/<type>.json for these').toEqual([]);
  });

  it('names each schema after its type, and every schema compiles', () => {
    for (const [i, file] of files.entries()) {
      const schema = schemas[i] as {
        $id: string;
        title?: string;
        properties?: { type?: { const?: string } };
      };
      expect(schema.$id).toBe(`https://ymera.io/schemas/events/${file}`);
      if (file === 'cloudevent.json') continue;
      expect(schema.properties?.type?.const).toBe(file.replace(/\.json$/, ''));
      expect(schema.title).toBe(file.replace(/\.json$/, ''));
      expect(() => validatorOf(file.replace(/\.json$/, ''))).not.toThrow();
    }
  });

  it('matches the LearningPipeline events built by their builders', () => {
    const run = {
      id: 'r-1',
      trigger: 'Event' as const,
      phase: 'Failed' as const,
      message: 'step b failed',
      startTime: '2026-12-05T09:00:00Z',
      completionTime: '2026-12-05T09:05:00Z',
      steps: [
        { name: 'a', phase: 'Succeeded' as const, attempts: 1 },
        { name: 'b', phase: 'Failed' as const, attempts: 3 },
      ],
    };
    check(lp(runStartedEvent({ id: 'r-1', trigger: 'Event', cause: 'event x on ns.drift' })));
    check(
      lp(
        stepRetriedEvent(
          run,
          { step: 'b', kind: 'Retrying', attempt: 1, message: 'exit 1' },
          '2026-12-05T09:01:00Z',
        ),
      ),
    );
    check(lp(stepRetriedEvent(run, { step: 'b', kind: 'Retrying', attempt: 1 }, undefined)));
    check(lp(stepFailedEvent(run, { step: 'b', kind: 'Failed', attempt: 3, message: 'exit 1' })));
    check(lp(runFinishedEvent(run)));
    const counts = { started: 4, running: 0, succeeded: 3, failed: 1, earlyStopped: 0 };
    check(
      lp(
        sweepCompletedEvent(
          run,
          'train',
          'Succeeded',
          {
            trials: [{ index: 2, parameters: { lr: '0.01' }, phase: 'Succeeded', objective: 0.9 }],
            best: { index: 2, objective: 0.9, parameters: { lr: '0.01' }, outputDir: 'trials/train-2' },
            ...counts,
          },
          'best trial 2',
        ),
      ),
    );
    check(lp(sweepCompletedEvent(run, 'train', 'Failed', counts, '2 trials failed')));
    check(
      lp(
        modelRegisteredEvent({
          runId: 'r-1',
          version: 'r-1',
          uri: 's3://ml/fraud/r-1/model.onnx',
          sha256: 'a'.repeat(64),
          metrics: { auc: 0.93 },
          gate: { passed: true, message: 'auc 0.93 >= 0.92' },
        }),
      ),
    );
    check(lp(deletedEvent('u-1')));
    const sink: PlatformEvent[] = [];
    publishReadyChange({ publish: (e) => sink.push(e) }, resource('LearningPipeline'), object, {
      type: 'Ready',
      status: 'False',
      reason: 'InvalidSchema',
      message: 'spec.triggers.kafka.schema.inline: invalid JSON Schema',
      lastTransitionTime: '2026-12-05T09:00:00Z',
      observedGeneration: 3,
    });
    expect(sink).toHaveLength(1);
    check(sink[0] as PlatformEvent);
  });

  it('matches the events of other kinds built by their builders', () => {
    check(
      backupEvent(resource('BackupPolicy'), object, {
        phase: 'Completed',
        trigger: 'Schedule',
        id: 'b-1',
        startedAt: '2026-12-05T09:00:00Z',
        completedAt: '2026-12-05T09:01:00Z',
        items: 12,
        bytes: 4096,
      }),
    );
    check(massFlagEvent(resource('MaintenancePlan'), object, { flagged: 9, selected: 10 }, new Date()));
  });

  it('rejects a wrong shape (the schemas are not vacuous)', () => {
    const validate = validatorOf('io.ymera.learningpipeline.run.started');
    const good = wire(lp(runStartedEvent({ id: 'r-1', trigger: 'Manual', cause: 'annotation' })));
    expect(validate(good)).toBe(true);
    expect(validate({ ...good, data: { run: 'r-1', trigger: 'Sometimes', cause: 'x' } })).toBe(false);
    expect(validate({ ...good, extra: 1 })).toBe(false);
    expect(validate({ ...good, type: 'io.ymera.learningpipeline.run.finished' })).toBe(false);
  });
});
