"""Asks the inference server for predictions with Triton's own HTTP client (tritonclient[http]),
the way its users do: tensors as binary data by default, and as JSON when asked.

Usage: python tritonclient_infer.py HOST:PORT MODEL X... ; prints one JSON object with the
server metadata's extensions and y as each kind of request got it.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient


def main():
    url, model, xs = sys.argv[1], sys.argv[2], [float(v) for v in sys.argv[3:]]
    client = httpclient.InferenceServerClient(url=url)
    x = np.array(xs, dtype=np.float64)
    results = {"extensions": client.get_server_metadata()["extensions"]}

    def infer(binary_input, outputs):
        tensor = httpclient.InferInput("x", list(x.shape), "FP64")
        tensor.set_data_from_numpy(x, binary_data=binary_input)
        answer = client.infer(model, [tensor], outputs=outputs)
        y = answer.as_numpy("y")
        assert y.dtype == np.float64, y.dtype
        return {"y": y.tolist(), "output": answer.get_output("y")}

    # The client's defaults: binary input, the output requested as binary.
    results["binary"] = infer(True, [httpclient.InferRequestedOutput("y")])
    # No output named: the client asks for every output as binary (binary_data_output).
    results["binary_all_outputs"] = infer(True, None)
    # Plain JSON both ways, as before the extension.
    results["json"] = infer(False, [httpclient.InferRequestedOutput("y", binary_data=False)])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
