#!/usr/bin/env python3
"""Write golden sentence-transformers embeddings of scripts/reference_texts.json for one model.

    write_reference.py --model all-MiniLM-L6-v2 [--from DIR] --out FILE.json

The fixture holds the texts, their token counts after truncation (special tokens included), the
embeddings exactly as SentenceTransformer(snapshot, device="cpu").encode returns them (float32,
written with 9 significant digits) and the STS-B test-split Spearman correlation that
sentence-transformers reaches (cosine similarity of each pair against the gold score). It knows
nothing of ONNX or of the Rust engine that the fixture checks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import embed_common as ec


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model name in models/manifest.toml")
    p.add_argument("--from", dest="source", type=Path, help="snapshot directory (default: <models dir>/<model>)")
    p.add_argument("--out", type=Path, required=True, help="fixture file to write")
    p.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    args = p.parse_args()

    manifest = ec.load_manifest()
    model = ec.find_model(manifest, args.model)
    snapshot = (args.source or ec.models_dir() / model["name"]).resolve()
    cfg = ec.read_st_config(snapshot)
    ec.check_against_manifest(cfg, model)
    texts = ec.load_texts()
    if model.get("prompts"):
        ec.log(f"note: {model['name']} has prompts {model['prompts']}; the texts are embedded without a prompt")

    ec.log(f"reference: loading sentence-transformers from {snapshot}")
    st = ec.load_sentence_transformer(snapshot, args.threads)
    if st.max_seq_length != cfg.max_seq_length:
        raise SystemExit(f"error: sentence-transformers uses max_seq_length {st.max_seq_length}, the configs say {cfg.max_seq_length}")
    embeddings = ec.st_encode(st, texts)
    token_counts = [len(ids) for ids in ec.st_token_ids(st, texts)]
    ec.log("reference: STS-B test split")
    spearman = ec.stsb_spearman(lambda t: ec.st_encode(st, t), ec.stsb_path())
    versions = ec.versions()

    fixture = {
        "model": model["name"],
        "hub_repo": model["hub_repo"],
        "revision": model["revision"],
        "source": "PyPI snapshot" if model.get("pypi") else "Hugging Face hub",
        "sentence_transformers_version": versions.get("sentence-transformers"),
        "torch_version": versions.get("torch"),
        "transformers_version": versions.get("transformers"),
        "normalized": cfg.normalize,
        "pooling": cfg.pooling,
        "max_seq_length": cfg.max_seq_length,
        "dimension": int(embeddings.shape[1]),
        "stsb_test_spearman": round(spearman, 6),
        "stsb_test_pairs": len(ec.load_stsb(ec.stsb_path())[2]),
        "texts": texts,
        "token_counts": token_counts,
        "embeddings": [[float(f"{x:.9g}") for x in row] for row in embeddings.tolist()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(ec.dump_json_rows(fixture))
    print(f"{model['name']}: wrote {args.out} ({len(texts)} texts, dimension {fixture['dimension']}, "
          f"STS-B test Spearman {fixture['stsb_test_spearman']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
