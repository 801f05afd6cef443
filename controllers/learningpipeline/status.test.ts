import { describe, expect, it } from 'vitest';
import { MAX_STEPS } from './schema.ts';
import type { LearningPipelineRun } from './schema.ts';
import { MAX_ACTIVE_RUNS } from './schema.ts';
import { pipelineStatus, trimHistory } from './status.ts';

const now = new Date('2026-11-21T10:00:00Z');
const run = (id: string, phase: LearningPipelineRun['phase'], minute: number): LearningPipelineRun => ({
  id,
  trigger: 'Schedule',
  phase,
  startTime: `2026-11-21T${String(minute).padStart(2, '0')}:00:00Z`,
  progress: '1/1',
  ...(phase === 'Failed' ? { message: 'step train failed' } : {}),
});
const obs = (runs: LearningPipelineRun[], historyLimit = 3) => ({
  generation: 2,
  errors: [],
  blockers: [],
  extra: [],
  runs,
  historyLimit,
});
const cond = (s: { conditions: { type: string; status: string; reason: string }[] }, type: string) =>
  s.conditions.find((c) => c.type === type);

describe('trimHistory', () => {
  it('keeps every active run and the newest historyLimit finished ones, newest first', () => {
    const runs = [
      run('a', 'Succeeded', 1),
      run('b', 'Running', 2),
      run('c', 'Failed', 3),
      run('d', 'Succeeded', 4),
      run('e', 'Succeeded', 5),
    ];
    const { kept, dropped } = trimHistory(runs, 2);
    expect(kept.map((r) => r.id)).toEqual(['e', 'd', 'b']);
    expect(dropped.map((r) => r.id)).toEqual(['c', 'a']);
  });
});

describe('pipelineStatus', () => {
  it('is Idle and Ready before the first run', () => {
    const s = pipelineStatus(obs([]), {}, undefined, now);
    expect(s.phase).toBe('Idle');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Idle' });
    expect(cond(s, 'Running')).toMatchObject({ status: 'False' });
  });

  it('reports the latest run: phase, progress, Running', () => {
    const s = pipelineStatus(obs([run('a', 'Succeeded', 1), run('b', 'Running', 2)]), {}, undefined, now);
    expect(s.phase).toBe('Running');
    expect(s.progress).toBe('1/1');
    expect(cond(s, 'Running')).toMatchObject({ status: 'True', reason: 'RunActive' });
    expect(cond(s, 'Succeeded')).toMatchObject({ status: 'True' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Running' });
  });

  it('is not Ready and Stalled when the latest run failed (kstatus: Failed, not InProgress), until a new run starts', () => {
    const s = pipelineStatus(obs([run('a', 'Succeeded', 1), run('b', 'Failed', 2)]), {}, undefined, now);
    const ready = cond(s, 'Ready') as { message?: string } | undefined;
    expect(ready).toMatchObject({ status: 'False', reason: 'RunFailed' });
    expect(cond(s, 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'RunFailed',
      message: ready?.message,
    });
    expect(cond(s, 'Reconciling')).toBeUndefined();
    expect(cond(s, 'Succeeded')).toMatchObject({ status: 'False', reason: 'RunFailed' });
    const next = pipelineStatus(
      obs([run('a', 'Succeeded', 1), run('b', 'Failed', 2), run('c', 'Running', 3)]),
      {},
      s,
      now,
    );
    expect(cond(next, 'Ready')).toMatchObject({ status: 'True', reason: 'Running' });
    expect(cond(next, 'Stalled')).toBeUndefined();
  });

  it('is Stalled for an invalid spec and Reconciling while a trigger connects', () => {
    const bad = pipelineStatus(
      { ...obs([]), errors: [{ field: 'spec.schedule', message: 'bad' }] },
      {},
      undefined,
      now,
    );
    expect(cond(bad, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    const waiting = pipelineStatus(
      { ...obs([]), blockers: [{ reason: 'TriggerNotReady', message: 'topic t missing', transient: true }] },
      {},
      undefined,
      now,
    );
    expect(cond(waiting, 'Reconciling')).toMatchObject({ status: 'True', reason: 'TriggerNotReady' });
    expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False' });
  });

  it('stays far below etcd’s 1 MiB object limit with the largest history and the longest messages', () => {
    const long = 'x'.repeat(5000);
    const stepName = (i: number) => `step-${String(i).padStart(26, '0')}`;
    const bigRun = (
      id: string,
      phase: LearningPipelineRun['phase'],
      minute: number,
    ): LearningPipelineRun => ({
      ...run(id, phase, minute),
      cause: 'c'.repeat(256),
      message: long.slice(0, 1024),
      completionTime: '2026-11-21T10:00:00Z',
      steps: Array.from({ length: MAX_STEPS }, (_, i) => ({
        name: stepName(i),
        phase: 'Failed' as const,
        attempts: 11,
        job: 'j'.repeat(63),
        startTime: '2026-11-21T10:00:00Z',
        completionTime: '2026-11-21T10:00:00Z',
        nextAttemptTime: '2026-11-21T10:00:00Z',
        message: long.slice(0, 200),
      })),
    });
    // 500 finished runs and the most active runs Allow permits
    const runs = [
      ...Array.from({ length: 500 }, (_, i) => bigRun(`s-${i}`, 'Failed', i % 60)),
      ...Array.from({ length: MAX_ACTIVE_RUNS }, (_, i) => bigRun(`m-${i}`, 'Running', 59)),
    ];
    const s = pipelineStatus(obs(runs, 20), {}, undefined, now);
    expect(s.runs).toHaveLength(20 + MAX_ACTIVE_RUNS);
    expect(JSON.stringify(s).length).toBeLessThan(512 * 1024);
  });
});
