"""Calls the runtime's gRPC endpoint with tritonclient.grpc (the real client
from PyPI, with its defaults: inputs go as raw_input_contents, outputs are read
from raw_output_contents) and prints what it got, as one JSON object on stdout,
for runtime-grpc.e2e.test.ts to check.

  python v2_grpc_client.py fraud <host:port> <model>   rows of 8 features as JSON on stdin
  python v2_grpc_client.py echo  <host:port> <model>   every datatype through echo.onnx
"""

import asyncio
import json
import sys

import grpc
import numpy as np
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import service_pb2, service_pb2_grpc
from google.protobuf.json_format import MessageToDict
from tritonclient.utils import InferenceServerException


def header(result, name):
    # get_output(name, as_json=True) returns None in tritonclient 2.73 (it drops the dict)
    return MessageToDict(result.get_output(name), preserving_proto_field_name=True)


def error_of(f):
    try:
        f()
        return None
    except InferenceServerException as e:
        return {"status": e.status(), "message": e.message()}
    except grpc.RpcError as e:
        return {"status": str(e.code()), "message": e.details()}


def fraud(url, model, rows):
    x = np.array(rows, dtype=np.float32)
    client = triton.InferenceServerClient(url)
    res = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "server": client.get_server_metadata(as_json=True),
        "model": client.get_model_metadata(model, as_json=True),
    }

    def infer_input(datatype="FP32", data=x):
        i = triton.InferInput("features", list(data.shape), datatype)
        i.set_data_from_numpy(data)  # the default: raw_input_contents
        return i

    def tensor(result, name="probabilities"):
        return {"header": header(result, name), "values": result.as_numpy(name).tolist()}

    r = client.infer(model, [infer_input()], request_id="req-9")
    res["triton_default"] = tensor(r)
    res["triton_id"] = r.get_response(as_json=True).get("id")
    res["triton_requested"] = tensor(
        client.infer(model, [infer_input()], outputs=[triton.InferRequestedOutput("probabilities")])
    )
    # the classification extension: top-K "value:index" BYTES in raw_output_contents
    r = client.infer(
        model, [infer_input()], outputs=[triton.InferRequestedOutput("probabilities", class_count=2)]
    )
    res["triton_classes"] = {
        "header": header(r, "probabilities"),
        "values": [[c.decode() for c in row] for row in r.as_numpy("probabilities").tolist()],
    }
    res["triton_error"] = error_of(
        lambda: client.infer(model, [infer_input("FP64", x.astype(np.float64))])
    )
    res["triton_not_found"] = error_of(lambda: client.infer("nope", [infer_input()]))
    client.close()

    async def aio():
        c = triton_aio.InferenceServerClient(url)
        try:
            i = triton_aio.InferInput("features", list(x.shape), "FP32")
            i.set_data_from_numpy(x)
            r = await c.infer(model, [i])
            return {"header": header(r, "probabilities"), "values": r.as_numpy("probabilities").tolist()}
        finally:
            await c.close()

    res["triton_aio_default"] = asyncio.run(aio())

    # The generated stub of the same client, for what its helpers never send:
    # typed contents, and malformed requests.
    channel = grpc.insecure_channel(url)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

    def request(**kw):
        req = service_pb2.ModelInferRequest(model_name=model)
        t = req.inputs.add(name="features", datatype="FP32", shape=list(kw.get("shape", x.shape)))
        if "contents" in kw:
            t.contents.fp32_contents.extend(kw["contents"])
        if "raw" in kw:
            req.raw_input_contents.append(kw["raw"])
        return req

    typed = stub.ModelInfer(request(contents=x.flatten().tolist()))
    res["typed"] = {
        "shape": list(typed.outputs[0].shape),
        "values": np.frombuffer(typed.raw_output_contents[0], dtype="<f4").reshape(len(rows), 2).tolist(),
    }
    res["malformed"] = {
        "raw_short": error_of(lambda: stub.ModelInfer(request(raw=x.tobytes()[:-4]))),
        "shape_mismatch": error_of(lambda: stub.ModelInfer(request(shape=[len(rows), 7], contents=[0.0] * (len(rows) * 7)))),
        "no_inputs": error_of(lambda: stub.ModelInfer(service_pb2.ModelInferRequest(model_name=model))),
    }
    # still serving after them
    after = stub.ModelInfer(request(raw=x.tobytes()))
    res["after_malformed"] = np.frombuffer(after.raw_output_contents[0], dtype="<f4").reshape(len(rows), 2).tolist()
    channel.close()
    return res


# Values per datatype, 2 rows x 3, including each type's extremes.
def echo_values():
    return {
        "BOOL": np.array([[True, False, True], [False, False, True]]),
        "UINT8": np.array([[0, 1, 255], [7, 8, 9]], dtype=np.uint8),
        "UINT16": np.array([[0, 1, 65535], [7, 8, 9]], dtype=np.uint16),
        "UINT32": np.array([[0, 1, 4294967295], [7, 8, 9]], dtype=np.uint32),
        "UINT64": np.array([[0, 1, 18446744073709551615], [7, 8, 9]], dtype=np.uint64),
        "INT8": np.array([[-128, -1, 127], [7, 8, 9]], dtype=np.int8),
        "INT16": np.array([[-32768, -1, 32767], [7, 8, 9]], dtype=np.int16),
        "INT32": np.array([[-2147483648, -1, 2147483647], [7, 8, 9]], dtype=np.int32),
        "INT64": np.array([[-9223372036854775808, -1, 9223372036854775807], [7, 8, 9]], dtype=np.int64),
        "FP16": np.array([[0.5, -2.0, 65504.0], [np.inf, 1e-3, 0.0]], dtype=np.float16),
        "FP32": np.array([[0.1, -2.5, 3.4e38], [1e-38, 0.0, -0.0]], dtype=np.float32),
        "FP64": np.array([[0.1, -2.5, 1e300], [5e-324, 0.0, -1.0]], dtype=np.float64),
        "BYTES": np.array([[b"", b"a", "h\u00e9 \u2713".encode()], [b"x" * 300, b"0", "z\u00ff".encode()]], dtype=np.object_),
    }


def same(a, b):
    if a.dtype == np.object_ or b.dtype == np.object_:
        as_bytes = lambda x: [v.encode() if isinstance(v, str) else bytes(v) for v in x.flatten()]  # noqa: E731
        return a.shape == b.shape and as_bytes(a) == as_bytes(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def echo(url, model):
    values = echo_values()
    client = triton.InferenceServerClient(url)
    inputs = []
    for dt, v in values.items():
        i = triton.InferInput(f"in_{dt}", list(v.shape), dt)
        i.set_data_from_numpy(v)
        inputs.append(i)
    r = client.infer(model, inputs)
    res = {}
    for dt, v in values.items():
        got = r.as_numpy(f"out_{dt}")
        res[dt] = {"same": same(v, got), "header": header(r, f"out_{dt}")}
    client.close()
    return res


def main():
    mode, url, model = sys.argv[1:4]
    if mode == "fraud":
        out = fraud(url, model, json.load(sys.stdin))
    elif mode == "echo":
        out = echo(url, model)
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
