// Adds up vitest JSON reports (and the pass/fail of non-test gates) into the
// one plain line CI reads, and exits non-zero when anything failed or a
// report is missing (a crashed run must not look green).
import { existsSync, readFileSync } from 'node:fs';

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numFailedTestSuites: number;
}

const [passedChecks = '0', failedChecks = '0', ...files] = process.argv.slice(2);
let passed = Number(passedChecks);
let failed = Number(failedChecks);
let skipped = 0;
for (const file of files) {
  if (!existsSync(file)) {
    process.stdout.write(`missing test report: ${file}\n`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8')) as VitestReport;
  passed += r.numPassedTests;
  // a file that fails to load has no failed tests but a failed suite
  failed += r.numFailedTests + (r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
  skipped += r.numPendingTests + r.numTodoTests;
}
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
