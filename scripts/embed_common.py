"""Helpers shared by convert_model.py and write_reference.py.

Reads models/manifest.toml and a snapshot's sentence-transformers configuration, tokenizes the way
sentence-transformers does (tokenizer.json with its baked-in padding and truncation replaced by
truncation at max_seq_length and padding to the longest text of a batch), runs an ONNX file with
ONNX Runtime, pools as 1_Pooling/config.json says, applies Dense modules and normalizes when
modules.json has Normalize.

Both eras of sentence-transformers' files are read: modules.json with the old
(`sentence_transformers.models.Pooling`) and the 5.x (`...sentence_transformer.modules.pooling.Pooling`)
module paths, 1_Pooling/config.json with `pooling_mode_*` booleans or a `pooling_mode` string, Dense
modules after pooling (2_Dense/config.json and model.safetensors). It must not know about Rust or about
how snapshots are fetched.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = REPO_ROOT / "models" / "manifest.toml"
TEXTS = Path(__file__).resolve().parent / "reference_texts.json"
STSB_TEST = REPO_ROOT / "data" / "stsb" / "stsb-en-test.csv"

# Files copied beside the ONNX files: the tokenizer and the sentence-transformers configuration.
SUPPORT_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "added_tokens.json",
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_manifest(path: Path | None = None) -> dict:
    """models/manifest.toml, or the manifest file given instead."""
    with open(path or MANIFEST, "rb") as f:
        return tomllib.load(f)


def find_model(manifest: dict, name: str) -> dict:
    for model in manifest["model"]:
        if model["name"] == name:
            return model
    known = ", ".join(m["name"] for m in manifest["model"])
    raise SystemExit(f"error: unknown model `{name}`; known models: {known}")


def models_dir() -> Path:
    env = os.environ.get("MODEL_CACHE_DIR")
    return Path(env) if env else REPO_ROOT / "models"


def stsb_path() -> Path:
    env = os.environ.get("EMBED_STSB_TEST")
    return Path(env) if env else STSB_TEST


def load_texts() -> list[str]:
    with open(TEXTS, encoding="utf-8") as f:
        return json.load(f)["texts"]


def load_stsb(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    s1, s2, gold = [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if not row:
                continue
            s1.append(row[0])
            s2.append(row[1])
            gold.append(float(row[2]))
    return s1, s2, np.asarray(gold, dtype=np.float64)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_json(path: Path) -> dict | list | None:
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@dataclass
class Dense:
    """A Dense module after pooling: out = activation(weight @ x + bias)."""

    path: str
    weight: np.ndarray  # (out_features, in_features)
    bias: np.ndarray | None
    activation: str  # "tanh", "identity", "relu" or "sigmoid"


@dataclass
class StConfig:
    """What sentence-transformers does around the transformer, read from a snapshot."""

    max_seq_length: int
    do_lower_case: bool
    pooling: str
    include_prompt: bool
    dense: list[Dense]
    normalize: bool
    dimension: int


# Pooling modes under their names in both eras of 1_Pooling/config.json: the old one's
# `pooling_mode_*` booleans and the new one's `pooling_mode` string.
POOLING_KEYS = [
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
    ("pooling_mode_weightedmean_tokens", "weighted_mean"),
    ("pooling_mode_lasttoken", "last_token"),
]
POOLING_MODES = {
    "cls": "cls",
    "mean": "mean",
    "max": "max",
    "mean_sqrt_len_tokens": "mean_sqrt_len",
    "weightedmean": "weighted_mean",
    "lasttoken": "last_token",
}
# Dense activations by the torch class sentence-transformers names in 2_Dense/config.json.
ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
}


def module_kind(type_name: str) -> str:
    """The class of a modules.json entry, in the old (`sentence_transformers.models.Pooling`) or the
    new (`sentence_transformers.sentence_transformer.modules.pooling.Pooling`) spelling; anything
    else (custom code, other sentence-transformers modules) is refused."""
    kind = type_name.rsplit(".", 1)[-1]
    if not type_name.startswith("sentence_transformers.") or kind not in ("Transformer", "Pooling", "Dense", "Normalize"):
        raise SystemExit(f"error: unsupported sentence-transformers module `{type_name}`")
    return kind


def read_pooling(path: Path) -> tuple[str, bool, int]:
    """Mode, include_prompt and token-embedding width of a Pooling module's config.json."""
    pool = read_json(path) or {}
    if "pooling_mode" in pool:
        mode = pool["pooling_mode"]
        modes = [mode] if isinstance(mode, str) else list(mode)
    else:
        modes = [name for key, name in POOLING_KEYS if pool.get(key)]
        modes = [next(k for k, v in POOLING_MODES.items() if v == m) for m in modes] or ["mean"]
    if len(modes) != 1 or modes[0] not in POOLING_MODES:
        raise SystemExit(f"error: expected exactly one known pooling mode in {path}, found {modes}")
    width = pool.get("embedding_dimension", pool.get("word_embedding_dimension"))
    return POOLING_MODES[modes[0]], bool(pool.get("include_prompt", True)), int(width)


def read_dense(snapshot: Path, rel: str) -> Dense:
    from safetensors.numpy import load_file

    config = read_json(snapshot / rel / "config.json") or {}
    activation = ACTIVATIONS.get(config.get("activation_function", "torch.nn.modules.activation.Tanh"))
    if activation is None:
        raise SystemExit(f"error: {rel}/config.json: unsupported activation {config['activation_function']}")
    if config.get("module_input_name", "sentence_embedding") != "sentence_embedding":
        raise SystemExit(f"error: {rel}/config.json: a Dense module that reads {config['module_input_name']} is not supported")
    weights_path = snapshot / rel / "model.safetensors"
    if not weights_path.is_file():
        raise SystemExit(f"error: {rel} has no model.safetensors")
    weights = load_file(str(weights_path))
    weight = weights["linear.weight"].astype(np.float32)
    bias = weights["linear.bias"].astype(np.float32) if config.get("bias", True) else None
    if weight.shape != (config["out_features"], config["in_features"]):
        raise SystemExit(f"error: {rel}: linear.weight is {weight.shape}, the config says {(config['out_features'], config['in_features'])}")
    return Dense(rel, weight, bias, activation)


def read_st_config(snapshot: Path) -> StConfig:
    modules = read_json(snapshot / "modules.json")
    if not modules:
        raise SystemExit(f"error: {snapshot}/modules.json is missing: not a sentence-transformers snapshot")
    kinds = [module_kind(m["type"]) for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Dense", "Normalize") for k in kinds[2:]):
        raise SystemExit(f"error: unsupported sentence-transformers modules {kinds} in {snapshot}")
    if "Normalize" in kinds and kinds[-1] != "Normalize":
        raise SystemExit(f"error: a Normalize module before the last module in {snapshot} is not supported")
    pooling, include_prompt, width = read_pooling(snapshot / modules[1]["path"] / "config.json")
    dense = [read_dense(snapshot, m["path"]) for m, k in zip(modules, kinds) if k == "Dense"]
    sbert = read_json(snapshot / "sentence_bert_config.json") or {}
    tok_cfg = read_json(snapshot / "tokenizer_config.json") or {}
    hf_cfg = read_json(snapshot / "config.json") or {}
    # sentence-transformers: max_seq_length from sentence_bert_config.json (before 5.x), else the
    # tokenizer's model_max_length (where 5.x saves it); capped at max_position_embeddings.
    max_len = sbert.get("max_seq_length") or tok_cfg.get("model_max_length")
    max_pos = hf_cfg.get("max_position_embeddings")
    if max_pos and max_pos > 0:
        max_len = min(max_len, max_pos) if max_len else max_pos
    return StConfig(
        max_seq_length=int(max_len),
        do_lower_case=bool(sbert.get("do_lower_case", False)),
        pooling=pooling,
        include_prompt=include_prompt,
        dense=dense,
        normalize="Normalize" in kinds,
        dimension=dense[-1].weight.shape[0] if dense else width,
    )


def check_against_manifest(cfg: StConfig, model: dict | None) -> None:
    if model is None:
        return
    found = {"dimension": cfg.dimension, "pooling": cfg.pooling, "max_seq_length": cfg.max_seq_length}
    for key, value in found.items():
        if model[key] != value:
            raise SystemExit(
                f"error: manifest says {key} = {model[key]!r} for {model['name']}, the snapshot says {value!r}"
            )


class Tokenizer:
    """tokenizer.json as sentence-transformers uses it: truncation at max_seq_length, padding to
    the longest text of the batch (texts lowercased first when sentence_bert_config.json says so)."""

    def __init__(self, snapshot: Path, cfg: StConfig):
        from tokenizers import Tokenizer as HfTokenizer

        self.tok = HfTokenizer.from_file(str(snapshot / "tokenizer.json"))
        self.cfg = cfg
        padding = self.tok.padding or {}
        pad_id = padding.get("pad_id")
        pad_token = padding.get("pad_token")
        if pad_token is None:
            tok_cfg = read_json(snapshot / "tokenizer_config.json") or {}
            pad_token = tok_cfg.get("pad_token")
            if isinstance(pad_token, dict):
                pad_token = pad_token.get("content")
            pad_id = self.tok.token_to_id(pad_token) if pad_token else 0
        self.tok.no_padding()
        self.tok.no_truncation()
        self.tok.enable_truncation(max_length=cfg.max_seq_length, strategy="longest_first")
        self.tok.enable_padding(pad_id=pad_id or 0, pad_token=pad_token or "[PAD]")

    def prepare(self, text: str) -> str:
        return text.lower() if self.cfg.do_lower_case else text

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        encs = self.tok.encode_batch([self.prepare(t) for t in texts], add_special_tokens=True)
        return {
            "input_ids": np.asarray([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encs], dtype=np.int64),
        }

    def token_counts(self, texts: list[str]) -> list[int]:
        return [int(m.sum()) for m in (self.encode([t])["attention_mask"] for t in texts)]


def pool(hidden: np.ndarray, mask: np.ndarray, cfg: StConfig) -> np.ndarray:
    """sentence-transformers' modules after the transformer: Pooling, each Dense, Normalize."""
    hidden = hidden.astype(np.float32)
    m = mask.astype(np.float32)[:, :, None]
    if cfg.pooling == "cls":
        out = hidden[:, 0]
    elif cfg.pooling in ("mean", "mean_sqrt_len"):
        summed = (hidden * m).sum(axis=1)
        count = np.clip(m.sum(axis=1), 1e-9, None)
        out = summed / (np.sqrt(count) if cfg.pooling == "mean_sqrt_len" else count)
    elif cfg.pooling == "weighted_mean":
        weights = m * np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None]
        out = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    elif cfg.pooling == "max":
        out = np.where(m > 0, hidden, -1e9).max(axis=1)
    elif cfg.pooling == "last_token":
        last = mask.sum(axis=1).astype(np.int64) - 1
        out = hidden[np.arange(hidden.shape[0]), last]
    else:
        raise SystemExit(f"error: pooling `{cfg.pooling}` is not implemented in validation")
    for dense in cfg.dense:
        out = out @ dense.weight.T
        if dense.bias is not None:
            out = out + dense.bias
        if dense.activation == "tanh":
            out = np.tanh(out)
        elif dense.activation == "relu":
            out = np.maximum(out, 0)
        elif dense.activation == "sigmoid":
            out = 1 / (1 + np.exp(-out))
    if cfg.normalize:
        out = out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
    return out.astype(np.float32)


class OnnxEmbedder:
    def __init__(self, onnx_path: Path, tokenizer: Tokenizer, cfg: StConfig, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.tokenizer = tokenizer
        self.cfg = cfg

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        # Like sentence-transformers: sort by length so batches pad little, then restore the order.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.cfg.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            feed = self.tokenizer.encode([texts[i] for i in idx])
            feed = {k: v for k, v in feed.items() if k in self.inputs}
            (hidden,) = self.sess.run(["last_hidden_state"], feed)
            out[idx] = pool(hidden, feed["attention_mask"], self.cfg)
        return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.clip(den, 1e-12, None)


def stsb_spearman(embed, path: Path) -> float:
    """Spearman correlation of pair cosine similarity with the gold score (embed: texts -> array)."""
    from scipy.stats import spearmanr

    s1, s2, gold = load_stsb(path)
    unique = sorted(set(s1) | set(s2))
    index = {s: i for i, s in enumerate(unique)}
    emb = embed(unique)
    a = emb[[index[s] for s in s1]]
    b = emb[[index[s] for s in s2]]
    return float(spearmanr(cosines(a, b), gold).statistic)


def load_sentence_transformer(snapshot: Path, threads: int):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    return SentenceTransformer(str(snapshot), device="cpu")


def st_encode(model, texts: list[str]) -> np.ndarray:
    """sentence-transformers' vectors of `texts` as they are: `prompt=""` keeps a default prompt
    the model names (`default_prompt_name`) from being put before them."""
    vectors = model.encode(texts, prompt="", batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def st_token_ids(model, texts: list[str]) -> list[list[int]]:
    """Token ids sentence-transformers feeds the transformer, text by text (no padding)."""
    out = []
    for t in texts:
        feats = model.tokenize([t])
        ids = feats["input_ids"][0]
        mask = feats["attention_mask"][0]
        out.append([int(i) for i, m in zip(ids.tolist(), mask.tolist()) if m])
    return out


def dump_json_rows(value) -> str:
    """JSON indented by two spaces, each list of number lists (embeddings) one row per line: small
    diffs, readable texts."""

    def encode(v, level: int) -> str:
        pad = "  " * level
        if isinstance(v, dict) and v:
            items = [f"{pad}  {json.dumps(k, ensure_ascii=False)}: {encode(x, level + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(v, list) and v and all(isinstance(r, list) and all(isinstance(x, (int, float)) for x in r) for r in v):
            rows = [f"{pad}  {json.dumps(r, separators=(',', ':'))}" for r in v]
            return "[\n" + ",\n".join(rows) + f"\n{pad}]"
        if isinstance(v, list) and v:
            return "[\n" + ",\n".join(f"{pad}  {encode(x, level + 1)}" for x in v) + f"\n{pad}]"
        return json.dumps(v, ensure_ascii=False)

    return encode(value, 0) + "\n"


def versions() -> dict[str, str]:
    import importlib.metadata as md

    names = ["torch", "transformers", "sentence-transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime", "tokenizers", "numpy"]
    out = {"python": sys.version.split()[0]}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return out
