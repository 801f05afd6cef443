// BackupPolicy metrics: when the last backup succeeded (alerts compare it
// with the schedule), its size and duration, failed attempts, and whether
// the latest drill passed (the generated alert rules read the timestamp and
// the drill result: operator/prometheus/generators/backuppolicy.ts).
import { Counter, Gauge, Registry } from 'prom-client';

export const BACKUP_LAST_SUCCESS_TIMESTAMP = 'ymera_backup_last_success_timestamp_seconds';
export const BACKUP_LAST_BYTES = 'ymera_backup_last_bytes';
export const BACKUP_LAST_DURATION = 'ymera_backup_last_duration_seconds';
export const BACKUP_FAILED_TOTAL = 'ymera_backup_failed_total';
export const BACKUP_DRILL_PASSED = 'ymera_backup_drill_passed';
export const POLICY_LABEL = 'backuppolicy';

export type PolicyLabels = { namespace: string; [POLICY_LABEL]: string };
const labelNames = ['namespace', POLICY_LABEL] as const;

export class BackupMetrics {
  private readonly lastSuccess: Gauge<(typeof labelNames)[number]>;
  private readonly bytes: Gauge<(typeof labelNames)[number]>;
  private readonly duration: Gauge<(typeof labelNames)[number]>;
  private readonly failed: Counter<(typeof labelNames)[number]>;
  private readonly drillPassed: Gauge<(typeof labelNames)[number]>;

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.lastSuccess = new Gauge({
      name: BACKUP_LAST_SUCCESS_TIMESTAMP,
      help: 'Unix time the latest Completed backup of a BackupPolicy finished.',
      labelNames,
      registers,
    });
    this.bytes = new Gauge({
      name: BACKUP_LAST_BYTES,
      help: 'Bytes the latest Completed backup of a BackupPolicy wrote to storage.',
      labelNames,
      registers,
    });
    this.duration = new Gauge({
      name: BACKUP_LAST_DURATION,
      help: 'Seconds the latest Completed backup of a BackupPolicy took.',
      labelNames,
      registers,
    });
    this.failed = new Counter({
      name: BACKUP_FAILED_TOTAL,
      help: 'BackupPolicy backups that failed.',
      labelNames,
      registers,
    });
    this.drillPassed = new Gauge({
      name: BACKUP_DRILL_PASSED,
      help: 'Whether the latest restore drill of a BackupPolicy passed (1) or failed (0); absent before the first drill.',
      labelNames,
      registers,
    });
  }

  /** Exports the failure counter at 0 so that increase() sees the first failure. */
  observe(
    labels: PolicyLabels,
    lastSuccessTime: string | undefined,
    lastDrillResult?: 'Passed' | 'Failed' | undefined,
  ): void {
    this.failed.inc(labels, 0);
    if (lastSuccessTime) this.lastSuccess.set(labels, Date.parse(lastSuccessTime) / 1000);
    if (lastDrillResult) this.drill(labels, lastDrillResult === 'Passed');
    else this.drillPassed.remove(labels);
  }

  /** The drill's verdict (set by the drill when it finishes, and from status.lastDrill on every reconcile). */
  drill(labels: PolicyLabels, passed: boolean): void {
    this.drillPassed.set(labels, passed ? 1 : 0);
  }

  completed(labels: PolicyLabels, finishedAt: Date, bytes: number, seconds: number): void {
    this.lastSuccess.set(labels, finishedAt.getTime() / 1000);
    this.bytes.set(labels, bytes);
    this.duration.set(labels, seconds);
  }

  failedOnce(labels: PolicyLabels): void {
    this.failed.inc(labels);
  }

  forget(labels: PolicyLabels): void {
    for (const m of [this.lastSuccess, this.bytes, this.duration, this.failed, this.drillPassed])
      m.remove(labels);
  }
}
