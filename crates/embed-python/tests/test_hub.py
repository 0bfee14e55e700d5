"""embed.Embedder on models named by Hugging Face hub id, read from a Hugging Face cache laid out
by hand exactly as huggingface_hub lays it out (blobs, snapshots of relative links, refs): the
vectors sentence-transformers gives for the fixture the cache holds, by `org/name`,
`@<commit>` and `@main`; the cache in the settings a pickle carries; malformed ids; the
offline switches (`HF_HUB_OFFLINE` as `EMBED_OFFLINE`) fetching nothing; and the defaults and
folder rules the Python layer reports being the Rust crates' own."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import pickle
import re
import threading
from pathlib import Path

import numpy as np
import pytest

import embed
from embed import _embed
from conftest import MODEL, REPO, cosines

# A fixture whose pooling (CLS), Dense layer and Normalize differ from the defaults a hub model
# gets when nothing is read from its files: vectors right only if the snapshot's own
# sentence-transformers files are read.
FIXTURE = REPO / "fixtures" / "architectures" / "bert-cls-dense"
REPO_ID = "fixture-org/bert-cls-dense"
# What `refs/main` records, as the hub's commit ids are: 40 hexadecimal digits.
COMMIT = hashlib.sha1(b"bert-cls-dense").hexdigest()
# Files huggingface_hub stores under the sha256 the hub announces for them (LFS); the others go
# under their git blob id.
LFS = (".safetensors", ".onnx")
# Every variable that moves a folder or turns fetching off, cleared so the test's own decide.
FOLDER_VARIABLES = (
    "EMBED_CACHE_DIR",
    "XDG_CACHE_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HOME",
    "EMBED_OFFLINE",
    "HF_HUB_OFFLINE",
)


def hub_cache(root: Path, repo_id: str, fixture: Path, commit: str) -> Path:
    """A Hugging Face cache at `root` holding `fixture` as `repo_id` at `commit`, with `main`
    pointing at it, as `huggingface_hub.snapshot_download` leaves it."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    blobs, snapshot = repo / "blobs", repo / "snapshots" / commit
    blobs.mkdir(parents=True)
    for file in sorted(p for p in fixture.rglob("*") if p.is_file() and p.name != "reference.json"):
        content = file.read_bytes()
        if file.suffix in LFS:
            blob = hashlib.sha256(content).hexdigest()
        else:
            blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        (blobs / blob).write_bytes(content)
        link = snapshot / file.relative_to(fixture)
        link.parent.mkdir(parents=True, exist_ok=True)
        # Relative, as huggingface_hub makes them: ../../blobs/<sha>, one more ../ per folder.
        link.symlink_to(os.path.relpath(blobs / blob, link.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return root


@pytest.fixture(scope="module")
def reference():
    data = json.loads((FIXTURE / "reference.json").read_text())
    return data["texts"], np.asarray(data["embeddings"], dtype=np.float32)


@pytest.fixture
def clean_env(monkeypatch):
    for name in FOLDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def cache(tmp_path, clean_env):
    root = hub_cache(tmp_path / "hf" / "hub", REPO_ID, FIXTURE, COMMIT)
    clean_env.setenv("HF_HUB_CACHE", str(root))
    return root


def test_the_hand_made_cache_is_huggingface_hubs_layout(cache):
    repo = cache / "models--fixture-org--bert-cls-dense"
    snapshot = repo / "snapshots" / COMMIT
    assert os.readlink(snapshot / "config.json").startswith("../../blobs/")
    assert os.readlink(snapshot / "1_Pooling" / "config.json").startswith("../../../blobs/")
    weights = (FIXTURE / "model.safetensors").read_bytes()
    assert os.readlink(snapshot / "model.safetensors") == f"../../blobs/{hashlib.sha256(weights).hexdigest()}"
    assert (repo / "refs" / "main").read_text() == COMMIT


@pytest.mark.parametrize("backend", ["native", "onnx"])
@pytest.mark.parametrize("revision", ["", f"@{COMMIT}", "@main"])
def test_a_hub_id_in_the_cache_gives_sentence_transformers_vectors(cache, reference, backend, revision):
    texts, want = reference
    e = embed.Embedder(model=REPO_ID + revision, backend=backend, offline=True)
    assert e.model == REPO_ID + revision and e.dimension == want.shape[1]
    assert e.engine.split()[0] == {"native": "native", "onnx": "onnxruntime"}[backend], e.engine
    assert cosines(e.embed(texts), want).min() >= 0.99999


def test_the_settings_carry_the_hub_cache_and_a_pickle_loads_again(cache, reference, clean_env):
    texts, want = reference
    e = embed.Embedder(model=REPO_ID, offline=True)
    assert e.settings["hub_cache_dir"] == os.path.abspath(cache)
    # The cache travels in the settings: a worker whose environment names none still finds it.
    clean_env.delenv("HF_HUB_CACHE")
    clone = pickle.loads(pickle.dumps(e))
    assert clone.settings == e.settings
    assert cosines(clone.embed(texts), want).min() >= 0.99999
    # An argument wins over the environment.
    elsewhere = cache.parent / "elsewhere"
    clean_env.setenv("HF_HUB_CACHE", str(elsewhere))
    argument = embed.Embedder(model=REPO_ID, hub_cache_dir=str(cache), offline=True)
    assert argument.settings["hub_cache_dir"] == os.path.abspath(cache)
    with pytest.raises(embed.EmbedError, match=re.escape(f"is not in the Hugging Face cache at {elsewhere}")):
        embed.Embedder(model=REPO_ID, offline=True)


@pytest.mark.parametrize(
    "model, reason",
    [
        ("org/../x", "a hub id has exactly two parts"),
        ("a/b/c", "a hub id has exactly two parts"),
        ("org/a..b", "holds `--` or `..`"),
        ("org/name@../../etc", "has an empty, `.` or `..` part"),
    ],
)
def test_a_malformed_hub_id_is_a_clear_error(cache, model, reason):
    with pytest.raises(embed.EmbedError) as caught:
        embed.Embedder(model=model, offline=True)
    message = str(caught.value)
    assert f"`{model}` is not a Hugging Face hub id (org/name, optionally @revision)" in message, message
    assert reason in message, message


class _RecordingHub(http.server.BaseHTTPRequestHandler):
    """A hub that has nothing, and notes every request it is sent."""

    requests: list = []

    def _refuse(self) -> None:
        type(self).requests.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _refuse

    def log_message(self, *args) -> None:  # noqa: ANN002 (http.server's own signature)
        pass


@pytest.fixture
def recording_hub(clean_env, tmp_path):
    _RecordingHub.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    clean_env.setenv("HF_ENDPOINT", url)
    clean_env.setenv("EMBED_PYPI_URL", f"{url}/pypi")
    clean_env.setenv("EMBED_CACHE_DIR", str(tmp_path / "embed-cache"))
    yield _RecordingHub.requests
    server.shutdown()
    server.server_close()


def test_hf_hub_offline_fetches_nothing_and_says_what_is_missing(cache, recording_hub, clean_env):
    missing = "fixture-org/not-cached"
    clean_env.setenv("HF_HUB_OFFLINE", "1")
    assert embed.Embedder(model=REPO_ID).settings["offline"] is True
    with pytest.raises(embed.EmbedError) as caught:
        embed.Embedder(model=missing)
    message = str(caught.value)
    assert f"hub model `{missing}` is not in the Hugging Face cache at {cache}" in message, message
    assert recording_hub == []
    # HF_HUB_OFFLINE's values read as huggingface_hub reads them.
    clean_env.setenv("HF_HUB_OFFLINE", "YES")
    with pytest.raises(embed.EmbedError, match="is not in the Hugging Face cache"):
        embed.Embedder(model=missing)
    assert recording_hub == []
    # The control: the argument wins over the variable; let it fetch, and the hub is asked (and
    # has nothing).
    with pytest.raises(embed.EmbedError):
        embed.Embedder(model=missing, offline=False)
    assert recording_hub, "not offline, the hub should have been asked for the model"
    assert all(missing in request for request in recording_hub), recording_hub


def test_offline_switches_read_as_the_commands(cache, clean_env):
    for value, offline in [("1", True), ("on", True), ("Y", True), ("0", False), ("false", False), ("off", False)]:
        clean_env.setenv("HF_HUB_OFFLINE", value)
        assert embed.Embedder(model=REPO_ID).settings["offline"] is offline, value
        assert _embed.offline_value(value) is offline, value
    clean_env.delenv("HF_HUB_OFFLINE")
    clean_env.setenv("EMBED_OFFLINE", "true")
    assert embed.Embedder(model=REPO_ID).settings["offline"] is True
    assert embed.Embedder(model=REPO_ID, offline=False).settings["offline"] is False
    clean_env.setenv("EMBED_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="EMBED_OFFLINE: expected true or false, found `maybe`"):
        embed.Embedder(model=REPO_ID)
    clean_env.setenv("EMBED_OFFLINE", "0")
    clean_env.setenv("HF_HUB_OFFLINE", "sometimes")
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE: expected true or false, found `sometimes`"):
        embed.Embedder(model=REPO_ID)


def test_the_defaults_are_the_rust_crates(model_cache_dir, clean_env, tmp_path):
    for name in ("DEFAULT_MODEL", "EMBED_BACKEND", "BATCH_SIZE", "MODEL_CACHE_DIR", "HF_ENDPOINT", "EMBED_PYPI_URL"):
        clean_env.delenv(name, raising=False)
    clean_env.setenv("EMBED_OFFLINE", "1")
    # Another spelling of a backend is the library's name for it.
    assert embed.Embedder(backend=" ORT ", model_cache_dir=model_cache_dir).settings["backend"] == "onnx"
    # The default model cache is a folder of the working directory: make it the test's.
    clean_env.chdir(tmp_path)
    (tmp_path / _embed.DEFAULT_MODEL_CACHE_DIR).symlink_to(Path(model_cache_dir).resolve())
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    s = embed.Embedder().settings
    assert s["model"] == _embed.DEFAULT_MODEL == embed.DEFAULT_MODEL == MODEL
    assert s["backend"] == _embed.DEFAULT_BACKEND and _embed.DEFAULT_BACKEND in _embed.BACKENDS
    assert s["batch_size"] == _embed.DEFAULT_BATCH_SIZE
    assert s["model_cache_dir"] == str(tmp_path / _embed.DEFAULT_MODEL_CACHE_DIR)
    assert s["hub_endpoint"] == _embed.DEFAULT_HF_ENDPOINT and s["pypi_url"] == _embed.DEFAULT_PYPI_URL
    # The folders follow the Rust rules: XDG_CACHE_HOME for both caches here.
    assert s["cache_dir"] == str(tmp_path / "xdg" / "embed")
    assert s["hub_cache_dir"] == str(tmp_path / "xdg" / "huggingface" / "hub")


def test_the_folder_rules_come_from_the_extension():
    assert _embed.resolve_dirs({"EMBED_CACHE_DIR": "/e", "HF_HOME": "/h"}) == ("/e", os.path.join("/h", "hub"))
    assert _embed.resolve_dirs({"HF_HUB_CACHE": "/c", "HF_HOME": "/h", "HOME": "/u"}) == (
        os.path.join("/u", ".cache", "embed"),
        "/c",
    )
    assert _embed.resolve_dirs({"EMBED_CACHE_DIR": "", "XDG_CACHE_HOME": "/x"}) == (
        os.path.join("/x", "embed"),
        os.path.join("/x", "huggingface", "hub"),
    )
    # Any mapping will do: os.environ itself too.
    assert _embed.resolve_dirs(os.environ) == _embed.resolve_dirs(dict(os.environ))
    with pytest.raises(TypeError):
        _embed.resolve_dirs(["HF_HOME"])
    assert _embed.ort_search_dirs("/e") == ["libs", os.path.join("/e", "libs")]
    assert [_embed.backend_name(n) for n in ("auto", "Native", "onnxruntime", "gpu")] == ["auto", "native", "onnx", None]
