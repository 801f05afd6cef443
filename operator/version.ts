// The operator's version: the default tag of the images it runs (kept equal to
// package.json's version and the chart's appVersion).
export const OPERATOR_VERSION = '0.1.0';

/**
 * Default image of the ymera inference runtime: the operator's own image,
 * which carries runtime/ and onnxruntime-node too (one image to build, scan
 * and ship); RUNTIME_COMMAND starts the runtime instead of the operator.
 */
export const RUNTIME_IMAGE = `ghcr.io/ymera/ymera-operator:${OPERATOR_VERSION}`;
/**
 * Default image for GPU services: the same runtime on CUDA 12 + cuDNN 9 with
 * onnxruntime's CUDA provider libraries (Dockerfile target runtime-cuda), which the
 * default image leaves out (several hundred MB that CPU services never load).
 */
export const RUNTIME_CUDA_IMAGE = `ghcr.io/ymera/ymera-runtime-cuda:${OPERATOR_VERSION}`;

/** The runtime image a service gets when spec.runtime.image is not set. */
export const defaultRuntimeImage = (gpu: unknown): string => (gpu ? RUNTIME_CUDA_IMAGE : RUNTIME_IMAGE);

/** Our images start the operator or nothing by default; RUNTIME_COMMAND starts the runtime in both. */
export const isOwnRuntimeImage = (image: string): boolean =>
  image === RUNTIME_IMAGE || image === RUNTIME_CUDA_IMAGE;

export const RUNTIME_COMMAND = [
  '/nodejs/bin/node',
  '--disable-warning=ExperimentalWarning',
  'runtime/server.ts',
];
