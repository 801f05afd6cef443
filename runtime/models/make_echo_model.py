"""Generates echo.onnx (run once; the output is committed).

echo.onnx: one input per v2 datatype, `in_<datatype>` [-1, 3], each returned
           unchanged by an Identity node as `out_<datatype>`: lets the e2e tests
           send every datatype (BOOL ... FP64, FP16, BYTES) through real clients
           and check the bytes that come back.

Usage: python3 runtime/models/make_echo_model.py  (needs onnx)
"""

import os

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))

DATATYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def main():
    inputs, outputs, nodes = [], [], []
    for name, elem in DATATYPES.items():
        i, o = f"in_{name}", f"out_{name}"
        inputs.append(helper.make_tensor_value_info(i, elem, ["batch", 3]))
        outputs.append(helper.make_tensor_value_info(o, elem, ["batch", 3]))
        nodes.append(helper.make_node("Identity", [i], [o]))
    graph = helper.make_graph(nodes, "echo", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "echo.onnx"))


if __name__ == "__main__":
    main()
