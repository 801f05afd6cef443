"""Calls the runtime with the real v2 clients from PyPI and prints what they got,
as one JSON object on stdout, for runtime-clients.e2e.test.ts to check.

  python v2_clients.py fraud <host:port> <model>   rows of 8 features as JSON on stdin
  python v2_clients.py echo  <host:port> <model>   every datatype through echo.onnx

Each client runs with its defaults unless the case's name says otherwise:
tritonclient.http sends inputs as binary data and, with no outputs named,
asks for every output as binary (binary_data_output); InferRequestedOutput
asks for binary too. kserve's InferenceRESTClient sends set_data_from_numpy
inputs as binary data.
"""

import asyncio
import json
import sys

import numpy as np
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from tritonclient.utils import InferenceServerException


def tensor_result(result, name):
    """The output's JSON header entry (minus data) and its values as a list."""
    out = dict(result.get_output(name))
    out.pop("data", None)
    return {"header": out, "values": result.as_numpy(name).tolist()}


def fraud(url, model, rows):
    x = np.array(rows, dtype=np.float32)
    client = triton.InferenceServerClient(url)
    res = {"server": client.get_server_metadata()}

    def infer_input(binary=True, datatype="FP32", data=x):
        i = triton.InferInput("features", list(data.shape), datatype)
        i.set_data_from_numpy(data, binary_data=binary)
        return i

    # defaults: binary input, no outputs named -> binary_data_output
    res["triton_default"] = tensor_result(client.infer(model, [infer_input()]), "probabilities")
    # an output named with InferRequestedOutput's default (binary_data=True)
    res["triton_requested"] = tensor_result(
        client.infer(model, [infer_input()], outputs=[triton.InferRequestedOutput("probabilities")]),
        "probabilities",
    )
    # JSON in and out through the same client
    res["triton_json"] = tensor_result(
        client.infer(
            model,
            [infer_input(binary=False)],
            outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)],
        ),
        "probabilities",
    )
    # the classification extension: top-K "value:index" BYTES, binary (the default) and JSON
    def classes(binary, k):
        out = triton.InferRequestedOutput("probabilities", binary_data=binary, class_count=k)
        r = client.infer(model, [infer_input()], outputs=[out])
        return {
            "header": {k2: v for k2, v in r.get_output("probabilities").items() if k2 != "data"},
            "values": [[c.decode() if isinstance(c, bytes) else c for c in row] for row in r.as_numpy("probabilities").tolist()],
        }

    res["triton_classes_binary"] = classes(True, 2)
    res["triton_classes_json"] = classes(False, 1)
    # compressed bodies both ways, as tritonclient.http offers them
    res["triton_compressed"] = {
        alg: tensor_result(
            client.infer(
                model,
                [infer_input()],
                request_compression_algorithm=alg,
                response_compression_algorithm=alg,
            ),
            "probabilities",
        )
        for alg in ("gzip", "deflate")
    }
    # a request id comes back in the binary response's JSON header
    r = client.infer(model, [infer_input()], request_id="req-7")
    res["triton_id"] = r.get_response().get("id")
    # an error reaches the client as its exception, with our status and message
    try:
        client.infer(model, [infer_input(datatype="FP64", data=x.astype(np.float64))])
        res["triton_error"] = None
    except InferenceServerException as e:
        res["triton_error"] = {"status": e.status(), "message": e.message()}
    client.close()

    async def aio():
        c = triton_aio.InferenceServerClient(url)
        try:
            i = triton_aio.InferInput("features", list(x.shape), "FP32")
            i.set_data_from_numpy(x)
            return tensor_result(await c.infer(model, [i]), "probabilities")
        finally:
            await c.close()

    res["triton_aio_default"] = asyncio.run(aio())

    async def kserve(binary_in, binary_out):
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
        i = InferInput("features", list(x.shape), "FP32")
        i.set_data_from_numpy(x, binary_data=binary_in)
        req = InferRequest(
            model_name=model,
            infer_inputs=[i],
            request_outputs=[RequestedOutput("probabilities", {"binary_data": binary_out})],
        )
        headers = {}
        r = await client.infer(f"http://{url}", req, model_name=model, response_headers=headers)
        out = r.outputs[0]
        return {
            # the client drops binary_data_size once it has read the bytes: the header tells
            "binary_response": "inference-header-content-length" in headers,
            "header": {"name": out.name, "datatype": out.datatype, "shape": list(out.shape)},
            "values": out.as_numpy().tolist(),
        }

    res["kserve_binary"] = asyncio.run(kserve(True, True))
    res["kserve_json"] = asyncio.run(kserve(False, False))
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
        i.set_data_from_numpy(v)  # binary by default
        inputs.append(i)
    r = client.infer(model, inputs)  # no outputs named: every output binary
    res = {"triton": {}}
    for dt, v in values.items():
        got = r.as_numpy(f"out_{dt}")
        res["triton"][dt] = {"same": same(v, got), "header": r.get_output(f"out_{dt}")}

    # what the runtime cannot carry is refused by name, through the client's exception
    def refused(values):
        ins = []
        for dt, v in echo_values().items():
            i = triton.InferInput(f"in_{dt}", list(v.shape), dt)
            i.set_data_from_numpy(values if dt == "BYTES" else v)
            ins.append(i)
        try:
            client.infer(model, ins)
            return None
        except InferenceServerException as e:
            return {"status": e.status(), "message": e.message()}

    res["triton_nul"] = refused(np.array([[b"a", b"b\x00c", b""], [b"", b"", b""]], dtype=np.object_))
    res["triton_not_utf8"] = refused(np.array([[b"a", b"b", b""], [b"", b"\xc3\x28", b""]], dtype=np.object_))
    client.close()

    async def kserve():
        c = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
        ins = []
        for dt, v in values.items():
            i = InferInput(f"in_{dt}", list(v.shape), dt)
            i.set_data_from_numpy(v)  # binary by default
            ins.append(i)
        req = InferRequest(model_name=model, infer_inputs=ins, parameters={"binary_data_output": True})
        headers = {}
        resp = await c.infer(f"http://{url}", req, model_name=model, response_headers=headers)
        by_name = {o.name: o for o in resp.outputs}
        return {
            "binary_response": "inference-header-content-length" in headers,
            "outputs": {dt: {"same": same(v, by_name[f"out_{dt}"].as_numpy())} for dt, v in values.items()},
        }

    res["kserve"] = asyncio.run(kserve())
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
