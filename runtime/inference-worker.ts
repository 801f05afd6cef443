// The worker side of the worker-thread inference engine (worker-engine.ts):
// creates the onnxruntime session from the model bytes it is given (the same
// createSession options and threads as the main-thread engine), reports the
// input/output metadata, then answers run requests. session.run executes on
// this thread, so the main thread's event loop keeps parsing and answering
// HTTP while a batch runs.
import { parentPort, workerData } from 'node:worker_threads';
import type ort from 'onnxruntime-node';
import { createSession, runSession, sessionMetadata } from './session.ts';
import { forTransfer } from './transfer.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker-engine.ts';

const port = parentPort;
if (!port) throw new Error('inference-worker.ts must run in a worker thread');
const init = workerData as WorkerInit;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

let session: ort.InferenceSession | undefined;
try {
  session = await createSession(init.bytes, init.session);
  post({ type: 'loaded', metadata: sessionMetadata(session) });
} catch (e) {
  // The main thread rejects the load and terminates this worker.
  post({ type: 'loadError', message: (e as Error).message });
}

port.on('message', (msg: ToWorker) => {
  if (msg.type !== 'run' || !session) return;
  runSession(session, msg.inputs).then(
    (outputs) => {
      const { tensors, transfer } = forTransfer(outputs);
      post({ type: 'result', id: msg.id, outputs: tensors }, transfer);
    },
    (e: unknown) => post({ type: 'error', id: msg.id, message: (e as Error).message ?? String(e) }),
  );
});
