"""Runs exported recsys models in onnxruntime and LiteRT, for tests/runtimes.rs.

Usage: python3 run_exported.py REQUEST.json RESULT.json
REQUEST: {"users": [...], "titles": [...], "user_rows": [...], "title_rows": [...],
          "files": [{"path": "m.onnx", "inputs": "strings" | "ids"}, ...]}
RESULT:  {"m.onnx": [rating, ...], ...}   (one float per pair)
"""

import json
import sys

import numpy as np


def feeds(req, inputs):
    if inputs == "strings":
        return {
            "user_id": np.array(req["users"], dtype=object),
            "movie_title": np.array(req["titles"], dtype=object),
        }
    return {
        "user_row": np.array(req["user_rows"], dtype=np.int64),
        "movie_row": np.array(req["title_rows"], dtype=np.int64),
    }


def run_onnx(path, feed):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["rating"], feed)[0]


def run_tflite(path, feed):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    details = {d["name"]: d for d in interpreter.get_input_details()}
    for name, value in feed.items():
        interpreter.resize_tensor_input(details[name]["index"], list(value.shape))
    interpreter.allocate_tensors()
    for name, value in feed.items():
        if value.dtype == object:
            value = np.array([s.encode("utf-8") for s in value], dtype=object)
        interpreter.set_tensor(details[name]["index"], value)
    interpreter.invoke()
    (out,) = interpreter.get_output_details()
    return interpreter.get_tensor(out["index"])


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        req = json.load(f)
    result = {}
    for spec in req["files"]:
        path = spec["path"]
        feed = feeds(req, spec["inputs"])
        run = run_onnx if path.endswith(".onnx") else run_tflite
        out = run(path, feed)
        assert out.shape == (len(req["users"]), 1), f"{path}: output shape {out.shape}"
        result[path] = [float(v) for v in out[:, 0]]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
