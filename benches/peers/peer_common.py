"""What every Python runner of the peer benchmark shares: its command line, the corpus, the
model's sentence-transformers configuration, the timing of single texts, and the result file.

`cargo xtask bench` starts each runner as its own process and reads back a JSON result and
the vectors (`.npy`); the runners know nothing of each other or of the harness's report.
The command line is the same for every engine (the Rust runners take the same flags).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", required=True, help="model name: a folder under --models-dir")
    p.add_argument("--models-dir", required=True, type=Path)
    p.add_argument("--variant", default="fp32", choices=["fp32", "int8"])
    p.add_argument("--threads", type=int, default=2, help="intra-op threads")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--corpus", required=True, type=Path, help="one text per line")
    p.add_argument("--single", type=int, default=200, help="single-text calls timed")
    p.add_argument("--vectors", required=True, type=Path, help="where the corpus vectors go (.npy)")
    p.add_argument("--result", required=True, type=Path, help="where the JSON result goes")
    return p.parse_args()


def model_dir(args: argparse.Namespace) -> Path:
    return args.models_dir / args.model


def onnx_path(args: argparse.Namespace) -> Path:
    name = "model.onnx" if args.variant == "fp32" else "model_int8.onnx"
    return model_dir(args) / "onnx" / name


def read_corpus(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def max_seq_length(directory: Path) -> int:
    with open(directory / "sentence_bert_config.json", encoding="utf-8") as f:
        return int(json.load(f)["max_seq_length"])


def pooling_mode(directory: Path) -> str:
    with open(directory / "1_Pooling" / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    for mode in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"):
        if config.get(f"pooling_mode_{mode}"):
            return mode
    raise SystemExit(f"error: no pooling mode set in {directory / '1_Pooling' / 'config.json'}")


def warm_up(embed_batch, embed_one, corpus: list[str]) -> None:
    """The same warm-up for every engine: one batch of the first 32 texts, one single text."""
    embed_batch(corpus[:32])
    embed_one(corpus[0])


def time_single(embed_one, corpus: list[str], calls: int) -> list[float]:
    """Milliseconds of `calls` single-text calls over the corpus's first texts, in order."""
    out = []
    for i in range(calls):
        text = corpus[i % len(corpus)]
        started = time.perf_counter()
        embed_one(text)
        out.append((time.perf_counter() - started) * 1e3)
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, as the Rust runners compute it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def write_result(args: argparse.Namespace, engine: str, version: str, load_s: float, batch_s: float,
                 n: int, dimension: int, single_ms: list[float], extra: dict | None = None) -> None:
    result = {
        "engine": engine,
        "version": version,
        "model": args.model,
        "variant": args.variant,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "texts": n,
        "dimension": dimension,
        "load_s": load_s,
        "batch_s": batch_s,
        "single_calls": len(single_ms),
        "single_p50_ms": percentile(single_ms, 50) if single_ms else None,
        "single_p99_ms": percentile(single_ms, 99) if single_ms else None,
    }
    result.update(extra or {})
    args.result.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
