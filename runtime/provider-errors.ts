// Pure, without onnxruntime: model.ts judges session errors with it before
// (or without) loading onnxruntime, which it imports only to open a session.

/**
 * Whether a session error means the provider itself could not be set up (its shared
 * library or the driver missing), as opposed to a model onnxruntime cannot read.
 */
export function isProviderUnavailable(message: string): boolean {
  return /AppendExecutionProvider_\w+|providers_(cuda|shared|tensorrt)|CUDA (driver|failure)|no CUDA-capable device/i.test(
    message,
  );
}
