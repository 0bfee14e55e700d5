"""What the package's tests share: the repository's paths, the corpus the Ray and Spark
pipelines embed (STS-B's sentences as a Parquet file), the library's own vectors and speed on
it, and a report of the throughput figures printed at the end of the run.

The models come from MODEL_CACHE_DIR (`cargo xtask test-python` fetches them first); the tests
run offline so that a missing model fails at once instead of going to the network. Offline is
set for this folder's tests alone: deploy/tests, run in the same process, start `embed` commands
with this process's environment.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
MODEL = "all-MiniLM-L6-v2"
# Threads of each worker in the pipelines: 2 workers on a 2-core machine share it as the
# library alone (one process, 2 threads) does.
CORES = os.cpu_count() or 1

# Row groups of the Parquet corpus: the units Ray and Spark split it into.
ROW_GROUPS = 8

_figures: Dict[str, float] = {}


def record_figure(name: str, texts_per_second: float) -> None:
    """Keeps a throughput figure for the report at the end of the run."""
    _figures[name] = texts_per_second


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 (pytest's own type)
    if not _figures:
        return
    cpu = cpu_name()
    terminalreporter.section(f"throughput on {cpu}, {CORES} cores (texts/s, same corpus, same run)")
    library = _figures.get("library alone")
    for name, value in _figures.items():
        share = f"  ({value / library:.0%} of the library alone)" if library and name != "library alone" else ""
        terminalreporter.write_line(f"{name:>28}: {value:8.1f}{share}")
    report = os.environ.get("EMBED_SCALE_REPORT")
    if report:
        import json

        Path(report).write_text(json.dumps({"cpu": cpu, "cores": CORES, "texts_per_second": _figures}, indent=2))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    return (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))


@pytest.fixture(scope="module", autouse=True)
def offline_unless_told():
    """EMBED_OFFLINE=1 unless the environment sets it, while each of this folder's modules runs."""
    with pytest.MonkeyPatch.context() as patch:
        if "EMBED_OFFLINE" not in os.environ:
            patch.setenv("EMBED_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def model_cache_dir() -> str:
    cache = os.environ.get("MODEL_CACHE_DIR")
    if not cache or not (Path(cache) / MODEL).is_dir():
        pytest.fail(f"MODEL_CACHE_DIR must hold {MODEL} (found {cache!r}): run `cargo xtask test-python`")
    return cache


def stsb_sentences() -> List[str]:
    """STS-B's dev and test sentences, each once, in file order."""
    seen: Dict[str, None] = {}
    for split in ("stsb-en-test.csv", "stsb-en-dev.csv"):
        with open(REPO / "data" / "stsb" / split, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                seen.setdefault(row[0])
                seen.setdefault(row[1])
    return list(seen)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Dict[str, object]:  # noqa: ANN001
    """A Parquet corpus of (id, text) rows, in ROW_GROUPS row groups: STS-B's sentences twice, the second
    time numbered, so that every text is distinct."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sentences = stsb_sentences()
    texts = sentences + [f"{i}. {s}" for i, s in enumerate(sentences)]
    ids = np.arange(len(texts), dtype=np.int64)
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    table = pa.table({"id": ids, "text": pa.array(texts, pa.string())})
    pq.write_table(table, path, row_group_size=-(-len(texts) // ROW_GROUPS))
    return {"path": str(path), "texts": texts, "ids": ids}


@pytest.fixture(scope="session")
def library(corpus, model_cache_dir) -> Dict[str, object]:  # noqa: ANN001
    """The library alone on the corpus, in this process with every core: its vectors (the
    reference every pipeline is checked against) and its texts/s."""
    import embed

    # Offline named here: a session's fixture is made before any module's offline_unless_told.
    embedder = embed.Embedder(MODEL, model_cache_dir=model_cache_dir, offline=True)
    embedder.embed(corpus["texts"][:64])  # warm up, as each pipeline worker does
    started = time.perf_counter()
    vectors = embedder.embed(corpus["texts"])
    elapsed = time.perf_counter() - started
    rate = len(corpus["texts"]) / elapsed
    record_figure("library alone", rate)
    return {"vectors": vectors, "texts_per_second": rate, "embedder": embedder}
