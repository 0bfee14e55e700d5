"""The sentence-transformers engine of the peer benchmark: the reference the other engines'
vectors are checked against. It runs the model's PyTorch weights (`model.safetensors` of the
same model folder) on the CPU with `--threads` intra-op threads.

Load time counts from the first import of torch to a model ready to encode, as a user pays it.
"""

from __future__ import annotations

import os
import time

import peer_common as pc

args = pc.parse_args("sentence-transformers runner for cargo xtask bench")
corpus = pc.read_corpus(args.corpus)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
load_started = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(args.threads)
import sentence_transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

model = SentenceTransformer(str(pc.model_dir(args)), device="cpu")
model.eval()
load_s = time.perf_counter() - load_started


def embed_batch(texts: list[str]) -> np.ndarray:
    return model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)


def embed_one(text: str) -> np.ndarray:
    return model.encode(text, convert_to_numpy=True, show_progress_bar=False)


with torch.inference_mode():
    pc.warm_up(embed_batch, embed_one, corpus)
    single_ms = pc.time_single(embed_one, corpus, args.single)
    batch_started = time.perf_counter()
    vectors = embed_batch(corpus)
    batch_s = time.perf_counter() - batch_started

vectors = np.ascontiguousarray(vectors, dtype=np.float32)
np.save(args.vectors, vectors)
pc.write_result(
    args,
    "sentence-transformers",
    f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
    load_s,
    batch_s,
    len(corpus),
    int(vectors.shape[1]),
    single_ms,
)
