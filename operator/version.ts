// The operator's version: the default tag of the images it runs (kept equal to
// package.json's version and the chart's appVersion).
export const OPERATOR_VERSION = '0.1.0';

/** Default image of the ymera inference runtime (runtime/), matching this operator. */
export const RUNTIME_IMAGE = `ghcr.io/ymera/ymera-runtime:${OPERATOR_VERSION}`;
