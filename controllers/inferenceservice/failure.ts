// Pure: a serving pod's failure in the runtime's own words. The runtime exits with
// "ModelLoadFailed (<reason>): <message>" in its termination message when it cannot
// load the model (runtime/termination.ts); the kubelet shows that as a crash or a
// crash loop, and this names it for what it is.
import type { PodFailure } from '../../operator/kube/workloads.ts';
import { MODEL_LOAD_FAILED, parseLoadFailure } from '../../runtime/termination.ts';

export function servingFailure(failure: PodFailure | undefined): PodFailure | undefined {
  const said = parseLoadFailure(failure?.terminationMessage);
  if (!failure || !said) return failure;
  return {
    ...failure,
    reason: MODEL_LOAD_FAILED,
    message: `${failure.pod ? `pod ${failure.pod} ` : ''}cannot load its model (${said.reason}): ${said.message}`,
  };
}
