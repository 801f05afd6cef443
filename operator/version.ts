// The operator's version: the default tag of the images it runs (kept equal to
// package.json's version and the chart's appVersion).
export const OPERATOR_VERSION = '0.1.0';

/**
 * Default image of the ymera inference runtime: the operator's own image,
 * which carries runtime/ and onnxruntime-node too (one image to build, scan
 * and ship); RUNTIME_COMMAND starts the runtime instead of the operator.
 */
export const RUNTIME_IMAGE = `ghcr.io/ymera/ymera-operator:${OPERATOR_VERSION}`;
export const RUNTIME_COMMAND = [
  '/nodejs/bin/node',
  '--disable-warning=ExperimentalWarning',
  'runtime/server.ts',
];
