// `make chaos`: the chaos suite of issue #18, each part bounded and stopping
// by itself, each also runnable alone:
// - kill points (bench/chaos-kill.ts, `make chaos-kill`): SIGKILLs of the
//   operator during reconciles; writes bench/results/chaos-kill.json.
// - outages (bench/chaos-outages.ts, `make chaos-outages`): API server and
//   etcd restarts, Kafka/Prometheus/MinIO outages, leader failover; writes
//   bench/results/chaos-outages.json.
// Run under the e2e lock (the Makefile target takes it): the faults touch the
// shared local stack.
import path from 'node:path';
import setupStack from '../test/e2e/global-setup.ts';
import {
  killOptionsFromEnv,
  say,
  killResultsPath,
  killTable,
  runKillChaos,
  writeKillReport,
} from './chaos-kill.ts';
import { outageOptionsFromEnv, runOutageChaos } from './chaos-outages.ts';

setupStack();
say('== kill points');
const kill = await runKillChaos({ ...killOptionsFromEnv(process.env), log: (line) => say(line) });
say(`\n${killTable(kill)}`);
writeKillReport(kill);
say(`\nwrote ${path.relative(process.cwd(), killResultsPath)}`);

say('\n== outages');
const outages = await runOutageChaos(outageOptionsFromEnv(process.env));
const killClean =
  kill.lost + kill.orphaned + kill.duplicates + kill.notConverged === 0 &&
  kill.secondsToConvergeAfterLastKill !== null;
process.exitCode = outages.totals.failed === 0 && killClean ? 0 : 1;
