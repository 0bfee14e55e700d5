"""`embed serve` in a container limited to one CPU: its engine must run one thread without being
told, and serve as fast as with `INTRA_OP_THREADS=1`.

The limit is a real CPU quota where this machine lets the test make a cgroup (cgroup v2's
`cpu.max` or v1's `cpu.cfs_quota_us`, 100 ms per 100 ms: what Kubernetes writes for
`limits.cpu: 1`), else the process's CPU affinity (`taskset -c 0`); the test says which. Two
servers run under it, one with its threads unset and one with `INTRA_OP_THREADS=1`, and take
turns under the same load (4 clients sending 32 STS-B sentences per request): the texts/s of the
first over the second is printed (the target is 0.95 or more), and must keep a floor that leaves
room for a shared machine."""

from __future__ import annotations

import csv
import http.client
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import List, Optional

import pytest

from replicas import Replica, free_port, post_embed

REPO = Path(__file__).resolve().parents[2]
CLIENTS = 4
TEXTS_PER_REQUEST = 32
TEXTS_PER_ROUND = 1024
ROUNDS = 3
# The least texts/s of the unset server over the INTRA_OP_THREADS=1 one: the two should run
# the same single thread; the floor leaves room for other work on a shared machine.
FLOOR = 0.85
PERIOD_US = 100_000


class OneCpu:
    """A cgroup whose CPU quota is one CPU, or, where none can be made, CPU 0 by affinity.
    `prefix(name)` is a command that runs its arguments confined."""

    def __init__(self) -> None:
        self.made: List[Path] = []
        self.kind = "affinity (taskset -c 0)"
        self.procs: Optional[Path] = None
        v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")
        for parent, limit in ((v2, "cpu.max"), (v1, "cpu.cfs_quota_us")):
            if parent == v2 and "cpu" not in _read(v2 / "cgroup.controllers").split():
                continue
            group = parent / f"embed-test-{uuid.uuid4().hex[:8]}"
            try:
                group.mkdir()
            except OSError:
                continue
            self.made.append(group)
            try:
                (group / limit).write_text(f"{PERIOD_US} {PERIOD_US}" if limit == "cpu.max" else str(PERIOD_US))
            except OSError:
                continue
            self.kind = f"cgroup quota ({group / limit})"
            self.procs = group / "cgroup.procs"
            return
        if shutil.which("taskset") is None:
            pytest.skip("neither a cgroup nor taskset can confine a process to one CPU here")

    def prefix(self) -> List[str]:
        if self.procs is None:
            return ["taskset", "-c", "0"]
        # The shell moves itself into the group, then becomes the server: its threads stay there.
        return ["sh", "-c", f'echo $$ > {self.procs} && exec "$@"', "sh"]

    def remove(self) -> None:
        for group in self.made:
            try:
                group.rmdir()
            except OSError:
                pass


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def sentences() -> List[str]:
    with open(REPO / "data" / "stsb" / "stsb-en-test.csv", newline="") as f:
        rows = [row[0] for row in csv.reader(f)]
    return (rows * (TEXTS_PER_ROUND // len(rows) + 1))[:TEXTS_PER_ROUND]


def round_texts_per_second(port: int, texts: List[str]) -> float:
    """Texts/s of one round: `CLIENTS` clients take the requests in turn until none is left."""
    requests = [texts[i : i + TEXTS_PER_REQUEST] for i in range(0, len(texts), TEXTS_PER_REQUEST)]
    lock = threading.Lock()
    failures: List[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not requests:
                    break
                batch = requests.pop()
            status, body = post_embed(conn, batch)
            if status != 200:
                failures.append(f"{status}: {body[:200]!r}")
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not failures, failures[:3]
    return len(texts) / elapsed


def test_one_cpu_quota_runs_one_engine_thread_as_fast_as_told(tmp_path, capsys, monkeypatch):
    one_cpu = OneCpu()
    cache = os.environ["MODEL_CACHE_DIR"]
    monkeypatch.delenv("INTRA_OP_THREADS", raising=False)
    # Every text is embedded: no answer comes from the server's embedding cache.
    no_cache = {"EMBEDDING_CACHE_SIZE": "0"}
    unset = Replica(free_port(), cache, tmp_path, env=no_cache, prefix=one_cpu.prefix())
    told = Replica(free_port(), cache, tmp_path, env={**no_cache, "INTRA_OP_THREADS": "1"}, prefix=one_cpu.prefix())
    try:
        for replica in (unset, told):
            replica.start()
        for replica in (unset, told):
            replica.wait_healthy()
        names = unset.thread_names()
        helpers = [n for n in names if n.startswith("embed-native-")]
        batchers = [n for n in names if n.startswith("embed-batch-")]
        assert helpers == [], f"under one CPU the engine started helper threads: {names}"
        assert len(batchers) == 1, f"under one CPU the server runs {len(batchers)} batches at once: {names}"
        texts = sentences()
        round_texts_per_second(unset.port, texts[:64])  # first requests: pages and caches warm
        round_texts_per_second(told.port, texts[:64])
        rates = {"unset": [], "told": []}
        for _ in range(ROUNDS):
            rates["unset"].append(round_texts_per_second(unset.port, texts))
            rates["told"].append(round_texts_per_second(told.port, texts))
    finally:
        for replica in (unset, told):
            replica.stop()
        one_cpu.remove()
    best = {name: max(values) for name, values in rates.items()}
    ratio = best["unset"] / best["told"]
    with capsys.disabled():
        print(
            f"\none CPU by {one_cpu.kind}: threads unset {best['unset']:.1f} texts/s, "
            f"INTRA_OP_THREADS=1 {best['told']:.1f} texts/s (best of {ROUNDS} rounds each): {ratio:.3f}x"
        )
    assert ratio >= FLOOR, f"threads unset under one CPU ran {ratio:.3f}x INTRA_OP_THREADS=1 ({rates})"
