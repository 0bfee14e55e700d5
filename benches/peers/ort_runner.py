"""The ONNX Runtime Python engine of the peer benchmark: the same ONNX file our engine runs,
driven the way a careful Python user would drive it: `tokenizers` with the model's
`max_seq_length`, texts sorted by length (as sentence-transformers does) and cut into batches
padded to their longest text, one `InferenceSession.run` per batch, pooling and normalization
in numpy.

Load time counts from the first import of onnxruntime to a session and tokenizer ready.
"""

from __future__ import annotations

import json
import time

import peer_common as pc

args = pc.parse_args("onnxruntime (Python) runner for cargo xtask bench")
corpus = pc.read_corpus(args.corpus)
directory = pc.model_dir(args)

load_started = time.perf_counter()
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

options = ort.SessionOptions()
options.intra_op_num_threads = args.threads
session = ort.InferenceSession(str(pc.onnx_path(args)), options, providers=["CPUExecutionProvider"])
input_names = {i.name for i in session.get_inputs()}
tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
tokenizer.no_padding()
tokenizer.enable_truncation(pc.max_seq_length(directory))
with open(directory / "tokenizer_config.json", encoding="utf-8") as f:
    pad_token = json.load(f).get("pad_token")
if isinstance(pad_token, dict):
    pad_token = pad_token.get("content")
pad_id = (tokenizer.token_to_id(pad_token) if pad_token else None) or 0
pooling = pc.pooling_mode(directory)
if pooling not in ("mean_tokens", "cls_token"):
    raise SystemExit(f"error: pooling {pooling} is not implemented by this runner")
load_s = time.perf_counter() - load_started


def run_batch(ids: list[list[int]]) -> np.ndarray:
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    feed = {"input_ids": input_ids, "attention_mask": mask}
    if "token_type_ids" in input_names:
        feed["token_type_ids"] = np.zeros_like(input_ids)
    hidden = session.run(None, feed)[0]
    if pooling == "cls_token":
        pooled = hidden[:, 0, :]
    else:
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def embed_batch(texts: list[str]) -> np.ndarray:
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    out = None
    for start in range(0, len(order), args.batch_size):
        chunk = order[start : start + args.batch_size]
        vectors = run_batch([ids[i] for i in chunk])
        if out is None:
            out = np.empty((len(ids), vectors.shape[1]), dtype=np.float32)
        out[chunk] = vectors
    return out


def embed_one(text: str) -> np.ndarray:
    return run_batch([tokenizer.encode(text).ids])[0]


pc.warm_up(embed_batch, embed_one, corpus)
single_ms = pc.time_single(embed_one, corpus, args.single)
batch_started = time.perf_counter()
vectors = embed_batch(corpus)
batch_s = time.perf_counter() - batch_started

np.save(args.vectors, vectors)
pc.write_result(
    args,
    "onnxruntime-python",
    f"onnxruntime {ort.__version__} (Python)",
    load_s,
    batch_s,
    len(corpus),
    int(vectors.shape[1]),
    single_ms,
)
