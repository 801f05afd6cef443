// The runtime ↔ controller contract for a model that cannot be loaded. The runtime
// writes one line to the container's termination message file and exits with
// LOAD_FAILED_EXIT_CODE; the kubelet copies the line into the container status
// (state/lastState.terminated.message), where the controller reads it back with
// parseLoadFailure and rolls the revision back saying why, on the first failed
// start instead of after the Deployment's progress deadline (10 min).
import { existsSync, writeFileSync } from 'node:fs';
import { redactString } from '../operator/logger.ts';

export const LOAD_FAILED_EXIT_CODE = 3;
export const MODEL_LOAD_FAILED = 'ModelLoadFailed';
// The kubelet keeps at most 4096 bytes of a container's termination message.
const MAX_BYTES = 4096;

/**
 * "ModelLoadFailed (<reason>): <message>", one line, within the kubelet's limit, with
 * credentials hidden as in the logs: the line ends up in pod status, Events and the CR status.
 */
export function loadFailureMessage(reason: string, message: string): string {
  const line = `${MODEL_LOAD_FAILED} (${reason}): ${redactString(message).replace(/\s*\n\s*/g, ' ')}`;
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= MAX_BYTES) return line;
  // cut on a character boundary: drop a trailing partial UTF-8 sequence
  return (
    bytes
      .subarray(0, MAX_BYTES - 3)
      .toString('utf8')
      .replace(/\uFFFD+$/, '') + '...'
  );
}

const LOAD_FAILURE_LINE = new RegExp(`^${MODEL_LOAD_FAILED} \\(([A-Za-z0-9]+)\\): ([^]*)$`);

/** The reason and message of a load failure line, or undefined for any other text. */
export function parseLoadFailure(text: string | undefined): { reason: string; message: string } | undefined {
  const m = LOAD_FAILURE_LINE.exec(text?.trim() ?? '');
  return m ? { reason: m[1]!, message: m[2]! } : undefined;
}

/**
 * Writes the termination message where Kubernetes mounted the file; elsewhere (a
 * laptop, a test without the file) it creates nothing, least of all under /dev.
 */
export function writeTerminationMessage(path: string, text: string): boolean {
  if (!existsSync(path)) return false;
  try {
    writeFileSync(path, text);
    return true;
  } catch {
    return false;
  }
}
