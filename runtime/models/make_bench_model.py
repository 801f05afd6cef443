"""Generates the compute-bound benchmark model (not committed: bench/inference.ts
runs this into ~/.cache/ymera/bench/, keyed by this file's sha256).

bench.onnx: features FP32 [-1, 8] -> probabilities FP32 [-1, 2], the same
            signature as fraud.onnx, but an MLP with HIDDEN-wide layers
            (8 -> HIDDEN x LAYERS -> 2, Relu, Softmax), fixed-seed He-normal
            weights. fraud.onnx costs the same ~11 us per session.run at any
            batch size (call overhead), so it cannot show whether batching
            keeps a model busy; this one spends its time in the GEMMs, so a
            batch of 64 costs far less than 64 batches of 1.

Usage: python3 runtime/models/make_bench_model.py OUT.onnx [HIDDEN] [LAYERS]  (needs onnx, numpy)
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 1024
LAYERS = 3


def bench(out, hidden=HIDDEN, layers=LAYERS):
    rng = np.random.default_rng(20261122)
    dims = [8] + [hidden] * layers + [2]
    inits, nodes = [], []
    x = "features"
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        w = rng.normal(0, np.sqrt(2.0 / a), (a, b)).astype(np.float32)
        bias = rng.normal(0, 0.01, (b,)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]))
        last = i == len(dims) - 2
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], ["logits" if last else f"a{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"a{i}"], [f"h{i}"]))
            x = f"h{i}"
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "bench",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ymera")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bench(sys.argv[1], *(int(a) for a in sys.argv[2:4]))
