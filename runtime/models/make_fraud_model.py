"""Generates the runtime's test models (run once; the outputs are committed).

fraud.onnx:  features FP32 [-1, 8] -> probabilities FP32 [-1, 2]
             MatMul+Add+Relu+MatMul+Add+Softmax, fixed-seed weights, also
             written to fraud.weights.json so tests compute a reference in
             plain TypeScript without onnxruntime.
masked.onnx: ids INT64 [-1, 4], mask BOOL [-1, 4], tags STRING [-1, 1]
             -> sum INT64 [-1, 1] (sum of ids where mask), tags_out STRING
             [-1, 1] (identity): exercises integer, boolean and BYTES tensors.

Usage: python3 runtime/models/make_fraud_model.py  (needs onnx, numpy)
"""

import hashlib
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def fraud():
    rng = np.random.default_rng(20261121)
    w1 = rng.normal(0, 0.5, (8, 16)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (16,)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (16, 2)).astype(np.float32)
    b2 = rng.normal(0, 0.1, (2,)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["features", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "fraud",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [-1, 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [-1, 2])],
        [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]],
    )
    # -1 in make_tensor_value_info becomes dim_value -1; make it a symbolic batch dim.
    for vi in list(graph.input) + list(graph.output):
        d = vi.type.tensor_type.shape.dim[0]
        d.Clear()
        d.dim_param = "batch"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ymera")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "fraud.onnx"))
    with open(os.path.join(HERE, "fraud.weights.json"), "w") as f:
        json.dump({"w1": w1.tolist(), "b1": b1.tolist(), "w2": w2.tolist(), "b2": b2.tolist()}, f)


def masked():
    nodes = [
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, dtype=np.int64))),
        helper.make_node("Where", ["mask", "ids", "zero"], ["kept"]),
        helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(np.array([1], dtype=np.int64))),
        helper.make_node("ReduceSum", ["kept", "axes"], ["sum"], keepdims=1),
        helper.make_node("Identity", ["tags"], ["tags_out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "masked",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 4]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", 4]),
            helper.make_tensor_value_info("tags", TensorProto.STRING, ["batch", 1]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.INT64, ["batch", 1]),
            helper.make_tensor_value_info("tags_out", TensorProto.STRING, ["batch", 1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ymera")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "masked.onnx"))


def sha(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


if __name__ == "__main__":
    fraud()
    masked()
    with open(os.path.join(HERE, "models.sha256.json"), "w") as f:
        json.dump({"fraud.onnx": sha("fraud.onnx"), "masked.onnx": sha("masked.onnx")}, f, indent=2)
        f.write("\n")
