// The LearningPipeline metrics the alerting rules read (see
// operator/prometheus/generators/learningpipeline.ts for the contract).
import { Counter, Gauge, Registry } from 'prom-client';
import type { SweepStatus } from './sweep.ts';
import {
  PIPELINE_LABEL,
  PIPELINE_RUN_ACTIVE_SECONDS,
  PIPELINE_RUN_FAILED_TOTAL,
  PIPELINE_SCHEDULE_MISSED_TOTAL,
} from '../../operator/prometheus/generators/learningpipeline.ts';

type Labels = { namespace: string; [PIPELINE_LABEL]: string };

export class PipelineMetrics {
  private readonly failed: Counter<'namespace' | typeof PIPELINE_LABEL>;
  private readonly missed: Counter<'namespace' | typeof PIPELINE_LABEL>;
  /** Sweep steps that ended, by outcome; trials of ended sweeps, by phase; trials stopped early. */
  private readonly sweeps: Counter<'namespace' | typeof PIPELINE_LABEL | 'outcome'>;
  private readonly trials: Counter<'namespace' | typeof PIPELINE_LABEL | 'phase'>;
  private readonly earlyStopped: Counter<'namespace' | typeof PIPELINE_LABEL>;
  /** Start time of each active run, by pipeline key; the gauge is computed at scrape time. */
  private readonly active = new Map<string, { labels: Labels; runs: Map<string, number> }>();

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.failed = new Counter({
      name: PIPELINE_RUN_FAILED_TOTAL,
      help: 'LearningPipeline runs that ended Failed.',
      labelNames: ['namespace', PIPELINE_LABEL],
      registers,
    });
    this.missed = new Counter({
      name: PIPELINE_SCHEDULE_MISSED_TOTAL,
      help: 'Scheduled LearningPipeline runs that did not start (superseded, or past startingDeadlineSeconds).',
      labelNames: ['namespace', PIPELINE_LABEL],
      registers,
    });
    this.sweeps = new Counter({
      name: 'ymera_learningpipeline_sweeps_total',
      help: 'LearningPipeline sweep steps that ended, by outcome (Succeeded, Failed).',
      labelNames: ['namespace', PIPELINE_LABEL, 'outcome'],
      registers,
    });
    this.trials = new Counter({
      name: 'ymera_learningpipeline_sweep_trials_total',
      help: 'Trials of ended LearningPipeline sweeps, by phase (Succeeded, Failed, EarlyStopped).',
      labelNames: ['namespace', PIPELINE_LABEL, 'phase'],
      registers,
    });
    this.earlyStopped = new Counter({
      name: 'ymera_learningpipeline_trials_early_stopped_total',
      help: 'LearningPipeline sweep trials stopped by the median stopping rule.',
      labelNames: ['namespace', PIPELINE_LABEL],
      registers,
    });
    const active = this.active;
    new Gauge({
      name: PIPELINE_RUN_ACTIVE_SECONDS,
      help: 'Seconds since each active LearningPipeline run started.',
      labelNames: ['namespace', PIPELINE_LABEL, 'run'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const { labels, runs } of active.values()) {
          for (const [run, started] of runs)
            this.set({ ...labels, run }, Math.max(0, (now - started) / 1000));
        }
      },
    });
  }

  /** Exports the counters at 0 so that increase() sees the first event. */
  observe(labels: Labels, hasSchedule: boolean, activeRuns: { id: string; startTime?: string }[]): void {
    this.failed.inc(labels, 0);
    if (hasSchedule) this.missed.inc(labels, 0);
    const runs = new Map<string, number>();
    for (const r of activeRuns) runs.set(r.id, r.startTime ? Date.parse(r.startTime) : Date.now());
    this.active.set(`${labels.namespace}/${labels[PIPELINE_LABEL]}`, { labels, runs });
  }

  runFailed(labels: Labels): void {
    this.failed.inc(labels);
  }

  sweepCompleted(labels: Labels, outcome: 'Succeeded' | 'Failed', sweep: SweepStatus): void {
    this.sweeps.inc({ ...labels, outcome });
    this.trials.inc({ ...labels, phase: 'Succeeded' }, sweep.succeeded);
    this.trials.inc({ ...labels, phase: 'Failed' }, sweep.failed);
    this.trials.inc({ ...labels, phase: 'EarlyStopped' }, sweep.earlyStopped);
  }

  trialEarlyStopped(labels: Labels): void {
    this.earlyStopped.inc(labels);
  }

  scheduleMissed(labels: Labels, count: number): void {
    if (count > 0) this.missed.inc(labels, count);
  }

  /** The pipeline is gone: drop its series. */
  forget(labels: Labels): void {
    this.active.delete(`${labels.namespace}/${labels[PIPELINE_LABEL]}`);
    this.failed.remove(labels);
    this.missed.remove(labels);
    for (const outcome of ['Succeeded', 'Failed']) this.sweeps.remove({ ...labels, outcome });
    for (const phase of ['Succeeded', 'Failed', 'EarlyStopped']) this.trials.remove({ ...labels, phase });
    this.earlyStopped.remove(labels);
  }
}
