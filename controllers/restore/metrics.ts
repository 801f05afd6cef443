// Restore metrics: how long restores take (the RTO users can expect) and
// how they end.
import { Counter, Histogram, Registry } from 'prom-client';

export const RESTORE_DURATION = 'ymera_restore_duration_seconds';
export const RESTORE_TOTAL = 'ymera_restore_total';

type Labels = { namespace: string; result: 'Succeeded' | 'Failed' | 'DryRun' };
const labelNames = ['namespace', 'result'] as const;

export class RestoreMetrics {
  private readonly duration: Histogram<(typeof labelNames)[number]>;
  private readonly total: Counter<(typeof labelNames)[number]>;

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.duration = new Histogram({
      name: RESTORE_DURATION,
      help: 'Seconds from a Restore starting (verification included) to its end.',
      labelNames,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.total = new Counter({
      name: RESTORE_TOTAL,
      help: 'Restores that ended, by result (Succeeded, Failed, DryRun).',
      labelNames,
      registers,
    });
  }

  ended(labels: Labels, seconds: number): void {
    this.total.inc(labels);
    this.duration.observe(labels, seconds);
  }
}
