// The I/O edge of predictions: the predictor's ONNX model in an onnxruntime
// session (sha256 verified, signature checked against the plan's signals),
// exposed as the Scorer predict.ts calls. One session.run per call, whatever
// the batch size.
import type ort from 'onnxruntime-node';
import { fetchModel, ModelLoadError, verifySha256 } from '../../runtime/model.ts';
import type { Scorer } from './predict.ts';

export type RiskModel = {
  sha256: string;
  /** Features per row: the number of signals the model takes. */
  width: number;
  score: Scorer;
  close: () => Promise<void>;
};

export type RiskModelOptions = {
  /** Expected SHA-256 of the bytes; a mismatch refuses the model (ModelLoadError Sha256Mismatch). */
  sha256?: string;
  /** The plan's signal count; the model must take exactly this many features. */
  signals: number;
  threads?: number;
};

const batchDim = (d: number | string | undefined) => typeof d === 'string' || d === -1 || d === undefined;

/**
 * A session over the model's bytes. The model takes one FP32 input [batch, signals]
 * and returns FP32 [batch, 1] (the risk) or [batch, 2] (class probabilities: the
 * risk is column 1); anything else is refused with InvalidModel naming what differs.
 */
export async function openRiskModel(bytes: Uint8Array, options: RiskModelOptions): Promise<RiskModel> {
  const sha256 = verifySha256(bytes, options.sha256);
  // onnxruntime loads with the first predictor, not with the operator
  const [{ default: onnx }, { createSession, sessionMetadata }] = await Promise.all([
    import('onnxruntime-node'),
    import('../../runtime/session.ts'),
  ]);
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, options.threads ? { threads: options.threads } : {});
  } catch (e) {
    throw new ModelLoadError(
      'InvalidModel',
      `onnxruntime cannot load the predictor: ${(e as Error).message}`,
    );
  }
  const { inputs, outputs } = sessionMetadata(session);
  const input = inputs[0];
  const output = outputs[0];
  const problem = (() => {
    if (inputs.length !== 1 || !input) return `takes ${inputs.length} inputs, not 1`;
    if (input.type !== 'float32') return `input ${input.name} is ${input.type}, not float32`;
    const w = input.shape?.[1];
    if (
      input.shape?.length !== 2 ||
      !batchDim(input.shape[0]) ||
      (typeof w === 'number' && w !== options.signals)
    )
      return `input ${input.name} has shape [${input.shape?.join(', ')}], not [batch, ${options.signals}] (one float per spec.signals entry)`;
    if (!output || output.type !== 'float32') return `output ${output?.name} is ${output?.type}, not float32`;
    const k = output.shape?.[1];
    if (output.shape?.length !== 2 || (k !== 1 && k !== 2))
      return `output ${output.name} has shape [${output.shape?.join(', ')}], not [batch, 1] (risk) or [batch, 2] (probabilities)`;
    return undefined;
  })();
  if (problem || !input || !output) {
    await session.release();
    throw new ModelLoadError('InvalidModel', `the predictor model ${problem}`);
  }
  const columns = output.shape?.[1] as 1 | 2;
  const score: Scorer = async (data, rows, width) => {
    if (width !== options.signals)
      throw new RangeError(`rows have ${width} features, the model takes ${options.signals}`);
    const out = await session.run({ [input.name]: new onnx.Tensor('float32', data, [rows, width]) });
    const t = out[output.name];
    if (!t) throw new Error(`the predictor returned no ${output.name}`);
    const values = t.data as Float32Array;
    if (columns === 1) return values;
    const risk = new Float32Array(rows);
    for (let i = 0; i < rows; i++) risk[i] = values[i * 2 + 1]!;
    return risk;
  };
  return { sha256, width: options.signals, score, close: () => session.release() };
}

/** The model at `uri` (file://, http(s)://, s3://), fetched, verified and opened. */
export async function loadRiskModel(
  uri: string,
  options: RiskModelOptions & { env?: Readonly<Record<string, string | undefined>> },
): Promise<RiskModel> {
  return openRiskModel(await fetchModel(uri, options.env), options);
}
