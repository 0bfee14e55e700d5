"""The fp32 GEMM peak that ONNX Runtime reaches on this machine with `--threads` intra-op
threads: one-node MatMul graphs (weights as initializers, so ONNX Runtime prepacks them as it
does a model's), timed over repeated runs. The best shape's GFLOP/s is the peak; the harness
divides a model's matmul FLOPs by it to get the physical limit of throughput.

Prints one JSON object: {"threads", "peak_gflops", "shapes": [{"m","k","n","gflops"}]}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# (m, k, n): square, and the shapes of MiniLM's and mpnet's feed-forward layers over 1024 tokens.
SHAPES = [(1024, 1024, 1024), (1024, 384, 1536), (1024, 1536, 384), (1024, 768, 3072), (1024, 3072, 768)]


def gflops(m: int, k: int, n: int, threads: int, seconds: float) -> float:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), name="B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["C"])],
        "gemm",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [m, n])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = rng.standard_normal((m, k), dtype=np.float32)
    for _ in range(3):
        session.run(None, {"A": a})
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        session.run(None, {"A": a})
        best = min(best, time.perf_counter() - started)
    return 2.0 * m * k * n / best / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=0.6, help="time spent on each shape")
    args = p.parse_args()
    shapes = [{"m": m, "k": k, "n": n, "gflops": gflops(m, k, n, args.threads, args.seconds)} for m, k, n in SHAPES]
    print(json.dumps({
        "threads": args.threads,
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "peak_gflops": max(s["gflops"] for s in shapes),
        "shapes": shapes,
    }))


if __name__ == "__main__":
    main()
