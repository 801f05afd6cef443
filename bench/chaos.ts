// `make chaos`: the chaos suite of issue #18, each part bounded and stopping
// by itself. Parts: outages (bench/chaos-outages.ts: API server and etcd
// restarts, Kafka/Prometheus/MinIO outages, leader failover). The kill-point
// part (bench/chaos-kill.ts, runKillChaos) joins here when it lands.
// Run under the e2e lock (the Makefile target takes it): the faults touch the
// shared local stack.
import setupStack from '../test/e2e/global-setup.ts';
import { outageOptionsFromEnv, runOutageChaos } from './chaos-outages.ts';

setupStack();
const outages = await runOutageChaos(outageOptionsFromEnv(process.env));
process.exitCode = outages.totals.failed === 0 ? 0 : 1;
