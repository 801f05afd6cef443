// A stand-in for a pod of the real node, for tests that need "a client in a
// pod" before (or without) a kubelet: a network namespace whose only link is
// a veth into the pod bridge (test/e2e/stack/bridge.sh) with an address on
// the pod subnet — what the node's CNI bridge plugin gives a pod, and nothing
// else: its 127.0.0.1 is its own and it has no route off the /24. Needs root
// (ip netns), like the bridge itself. Tests run under the e2e lock, so one
// fixed name is enough; a namespace a crashed run left behind is replaced.
import type { ChildProcess } from 'node:child_process';
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { CommandResult } from './support.ts';

const NETNS = 'ymera-e2e-pod';
const HOST_END = 'ye2e-pod-host';

export interface PodNetns {
  readonly name: string;
  /** The stand-in pod's address on the bridge. */
  readonly address: string;
  /** The host's address on the bridge: where pods reach the stack's servers. */
  readonly bridgeAddress: string;
  /** Runs a command inside the namespace; resolves with its exit code and output. */
  run(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<CommandResult>;
  /** Starts a long-running command inside the namespace (stop it with kill()). */
  spawn(command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Deletes the namespace and its veth; idempotent. */
  remove(): void;
}

function ip(args: string[], ignoreErrors = false): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    if (!ignoreErrors)
      throw new Error(`ip ${args.join(' ')}: ${String((e as { stderr?: unknown }).stderr ?? e)}`);
  }
}

function removeNetns(): void {
  // deleting the namespace deletes its end of the veth, and with it the host's
  ip(['netns', 'delete', NETNS], true);
  ip(['link', 'delete', HOST_END], true);
}

export function createPodNetns(address = '10.250.0.250'): PodNetns {
  const bridge = process.env.YMERA_BRIDGE ?? 'ymera0';
  const bridgeAddress = process.env.YMERA_BRIDGE_ADDRESS ?? '10.250.0.1';
  removeNetns();
  ip(['netns', 'add', NETNS]);
  try {
    ip(['link', 'add', HOST_END, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS]);
    ip(['link', 'set', HOST_END, 'master', bridge, 'up']);
    ip(['-n', NETNS, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', NETNS, 'link', 'set', 'eth0', 'up']);
    ip(['-n', NETNS, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    removeNetns();
    throw e;
  }
  const inNetns = (command: string, args: string[]) => ['netns', 'exec', NETNS, command, ...args];
  return {
    name: NETNS,
    address,
    bridgeAddress,
    run: (command, args, env = process.env) =>
      new Promise((resolve) => {
        execFile(
          'ip',
          inNetns(command, args),
          { env, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      }),
    spawn: (command, args, env = process.env) =>
      spawn('ip', inNetns(command, args), { env, stdio: ['ignore', 'pipe', 'pipe'] }),
    remove: removeNetns,
  };
}
