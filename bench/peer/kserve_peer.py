"""The side-by-side peer of `make bench`: KServe's Python ModelServer serving
one ONNX model with onnxruntime, on the v2 REST (JSON and binary tensor
extension) and gRPC endpoints KServe provides, as a KServe custom predictor
is written (a kserve.Model whose predict runs an InferenceSession).

One worker process (uvicorn in this process; gRPC beside it), no per-request
log lines (the runtime under test writes none either), onnxruntime with the
same intra-op thread count as the runtime's setting (0 = onnxruntime's
default). KServe's ModelServer has no batcher of its own: each request is one
session.run.

    python kserve_peer.py --model_path m.onnx --model_name fraud --http_port P --grpc_port G [--threads N]
"""

import argparse
import logging

import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve import model_server
from kserve.utils.utils import generate_uuid


class OnnxModel(Model):
    def __init__(self, name: str, path: str, threads: int):
        super().__init__(name)
        self.path = path
        self.threads = threads
        self.session: ort.InferenceSession | None = None

    def load(self) -> bool:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
        results = self.session.run(None, {self.input_name: x})
        outputs = []
        for name, y in zip(self.output_names, results):
            out = InferOutput(name=name, shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(y, binary_data=payload.use_binary_outputs)
            outputs.append(out)
        return InferResponse(
            # what KServe's own predictors answer for a request without an id
            response_id=payload.id if payload.id is not None else generate_uuid(),
            model_name=self.name,
            infer_outputs=outputs,
            use_binary_outputs=payload.use_binary_outputs,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--threads", type=int, default=0)
    args, _ = parser.parse_known_args()
    model = OnnxModel(args.model_name, args.model_path, args.threads)
    model.load()
    server = ModelServer(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=1,
        enable_latency_logging=False,
    )
    # after ModelServer configured logging: no access-log line per request
    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start([model])
