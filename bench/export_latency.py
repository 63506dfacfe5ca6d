"""Latency of exported recsys models in onnxruntime and LiteRT: 1 / 100 / 1,664 candidates for
one user, median (min-max) per call over about 1 s of calls each.

Usage: python3 bench/export_latency.py OUT_DIR
OUT_DIR is what `cargo run --release -p recsys-export --example export_bench -- MODEL OUT_DIR`
wrote: model-strings-f32.onnx, model-strings-f32.tflite and candidates.json.
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter

SIZES = (1, 100, 1664)


def timed(f):
    for _ in range(3):
        f()
    start = time.perf_counter()
    f()
    once = max(time.perf_counter() - start, 1e-7)
    reps = int(min(max(0.8 / once, 5), 20000))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[reps // 2], times[0], times[-1]


def fmt(s):
    us = s * 1e6
    return f"{us:.1f} µs" if us < 1000 else f"{us / 1000:.2f} ms"


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "candidates.json"), encoding="utf-8") as f:
        c = json.load(f)
    # One thread each, as the TFLite interpreter figure was taken.
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(
        os.path.join(out, "model-strings-f32.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    print(f"onnxruntime {ort.__version__}, one thread; LiteRT interpreter, default threads")
    print("| candidates | onnxruntime (ONNX, strings) | LiteRT (TFLite, strings) |")
    print("|---|---|---|")
    for n in SIZES:
        users = np.array([c["user"]] * n, dtype=object)
        titles = np.array(c["titles"][:n], dtype=object)
        feed = {"user_id": users, "movie_title": titles}
        t_ort = timed(lambda: session.run(["rating"], feed))

        interp = Interpreter(model_path=os.path.join(out, "model-strings-f32.tflite"))
        details = {d["name"]: d["index"] for d in interp.get_input_details()}
        for name in feed:
            interp.resize_tensor_input(details[name], [n])
        interp.allocate_tensors()
        out_index = interp.get_output_details()[0]["index"]
        u_bytes = np.array([s.encode() for s in users], dtype=object)
        t_bytes = np.array([s.encode() for s in titles], dtype=object)

        def run_tflite():
            interp.set_tensor(details["user_id"], u_bytes)
            interp.set_tensor(details["movie_title"], t_bytes)
            interp.invoke()
            return interp.get_tensor(out_index)

        a = session.run(["rating"], feed)[0][:, 0]
        b = run_tflite()[:, 0]
        assert np.max(np.abs(a - b)) < 1e-5, (a, b)
        t_tfl = timed(run_tflite)
        cell = lambda t: f"{fmt(t[0])} ({fmt(t[1])}–{fmt(t[2])})"
        print(f"| {n} | {cell(t_ort)} | {cell(t_tfl)} |")


if __name__ == "__main__":
    main()
