// `make chaos`: the chaos suite, bounded, stops by itself. Parts (each also
// runnable alone):
// - kill points (bench/chaos-kill.ts, `make chaos-kill`): SIGKILLs of the
//   operator during reconciles; writes bench/results/chaos-kill.json.
// The outage part (bench/chaos-outages.ts, `make chaos-outages`) is added here
// beside it.
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

setupStack();
say('== kill points');
const kill = await runKillChaos({ ...killOptionsFromEnv(process.env), log: (line) => say(line) });
say(`\n${killTable(kill)}`);
writeKillReport(kill);
say(`\nwrote ${path.relative(process.cwd(), killResultsPath)}`);
