// The operator's idle memory floor: packages that cost tens of MiB of RSS
// must not load with the operator, only when a controller first needs them.
// The module graph is observed in a real `node operator/main.ts --help`
// (every static import loaded, nothing started) through a resolve hook.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..');

// Prints the package of every module resolved under node_modules, at exit, on stderr.
const hook = `
import { registerHooks } from 'node:module';
const packages = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(resolved.url);
    if (m) packages.add(m[1]);
    return resolved;
  },
});
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify([...packages]) + '\\n'));
`;

async function packagesLoadedBy(script: string, args: string[]): Promise<string[]> {
  const { stderr } = await promisify(execFile)(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      `--import=data:text/javascript,${encodeURIComponent(hook)}`,
      path.join(repo, script),
      ...args,
    ],
    { cwd: repo },
  );
  const line = stderr.split('\n').find((l) => l.startsWith('LOADED '));
  if (!line) throw new Error(`no module list from ${script}: ${stderr}`);
  return JSON.parse(line.slice('LOADED '.length)) as string[];
}

describe('operator start-up imports', () => {
  it('loads neither the AWS SDK, the Kafka client nor onnxruntime until they are used', async () => {
    const loaded = await packagesLoadedBy('operator/main.ts', ['--help']);
    // the hook sees the graph: packages the operator always needs are there
    expect(loaded).toContain('prom-client');
    for (const heavy of [
      '@aws-sdk/client-s3',
      '@aws-sdk/credential-providers',
      '@smithy/node-http-handler',
      '@platformatic/kafka',
      'onnxruntime-node',
    ]) {
      expect(loaded, `${heavy} is loaded at start-up`).not.toContain(heavy);
    }
  });
});
