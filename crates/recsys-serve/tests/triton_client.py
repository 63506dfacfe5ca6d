"""Drives a recsys server with NVIDIA Triton's own HTTP client (tritonclient[http]).

Usage: python3 triton_client.py HOST:PORT MODEL CASES.json
CASES.json holds {"user_id": [...], "movie_title": [...]}. Prints one JSON object on stdout:
the scores the server returned with binary tensors (tritonclient's default) and with JSON
tensors, plus what the health, readiness and metadata calls said. Exits non-zero on any error.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main():
    url, model, cases_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    client = httpclient.InferenceServerClient(url=url)
    out = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "metadata": client.get_model_metadata(model),
    }
    users = np.array([u.encode("utf-8") for u in cases["user_id"]], dtype=np.object_)
    titles = np.array([t.encode("utf-8") for t in cases["movie_title"]], dtype=np.object_)
    for binary in (True, False):
        inputs = [
            httpclient.InferInput("user_id", [len(users)], "BYTES"),
            httpclient.InferInput("movie_title", [len(titles)], "BYTES"),
        ]
        inputs[0].set_data_from_numpy(users, binary_data=binary)
        inputs[1].set_data_from_numpy(titles, binary_data=binary)
        key = "binary" if binary else "json"
        # Binary requests leave "outputs" out (the client then asks for binary outputs);
        # JSON requests name the output and ask for JSON data.
        outputs = None if binary else [httpclient.InferRequestedOutput("score", binary_data=False)]
        result = client.infer(model, inputs, outputs=outputs, request_id=key)
        scores = result.as_numpy("score")
        assert scores.shape == (len(users), 1), scores.shape
        assert scores.dtype == np.float32, scores.dtype
        out[key] = [float(s) for s in scores[:, 0]]
        out[key + "_response"] = result.get_response()
    try:
        client.infer("no-such-model", inputs)
        out["unknown_model_error"] = None
    except InferenceServerException as e:
        out["unknown_model_error"] = {"status": e.status(), "message": e.message()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
