"""Failover: three `embed serve` replicas behind nginx (retrying on the next upstream), many
clients; mid-load one replica gets SIGTERM and is started again, later another gets SIGKILL.

Every request must end with the right vectors (checked against the Python package's, cosine >=
0.99999), after retries by the client where it got a clean error (a status of 502/503/504 or a
connection error); none may be lost (out of retries) or wrong. Prints requests, retries, errors
by kind, the retries nginx made, p50/p99 latency and each replica's peak memory, which the
Deployment's memory request must cover."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import embed
from replicas import MODEL, Nginx, Replica, free_port, post_embed

CLIENTS = 16
REQUESTS_PER_CLIENT = 90
CLIENT_ATTEMPTS = 8
TEXT_POOL = 200
# When to hurt a replica: after this many requests answered, of all clients together.
SIGTERM_AT = 0.25
SIGKILL_AT = 0.6
SHUTDOWN_TIMEOUT_S = 20
KUBERNETES = Path(__file__).resolve().parents[1] / "kubernetes"


def texts_pool():
    rng = random.Random(18)
    words = "the a replica answers every request with its vector while another one stops for good".split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 40))) + f" #{i}" for i in range(TEXT_POOL)]


class Tally:
    """What the clients saw, all together."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered = 0
        self.lost = 0
        self.wrong = 0
        self.retries = 0
        self.errors: Counter = Counter()
        self.latencies: list = []
        self.progress = threading.Condition(self.lock)

    def wait_for(self, answered: int) -> None:
        with self.progress:
            self.progress.wait_for(lambda: self.answered + self.lost >= answered, timeout=300)


def client(seed: int, port: int, texts, expected, tally: Tally) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(REQUESTS_PER_CLIENT):
        picks = [rng.randrange(len(texts)) for _ in range(rng.randint(1, 4))]
        started = time.perf_counter()
        outcome = "lost"
        for attempt in range(CLIENT_ATTEMPTS):
            if attempt:
                with tally.lock:
                    tally.retries += 1
                time.sleep(0.02 * attempt)
            try:
                status, body = post_embed(conn, [texts[i] for i in picks])
            except (OSError, http.client.HTTPException) as error:
                with tally.lock:
                    tally.errors[f"connection: {type(error).__name__}"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            if status in (502, 503, 504):
                with tally.lock:
                    tally.errors[f"http {status}"] += 1
                continue
            if status != 200:
                outcome = "wrong"
                with tally.lock:
                    tally.errors[f"http {status} (not retried): {body[:200]!r}"] += 1
                break
            got = np.asarray(json.loads(body), dtype=np.float64)
            want = expected[picks].astype(np.float64)
            cos = (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
            outcome = "answered" if got.shape == want.shape and cos.min() >= 0.99999 else "wrong"
            break
        with tally.progress:
            if outcome == "answered":
                tally.answered += 1
                tally.latencies.append(time.perf_counter() - started)
            elif outcome == "wrong":
                tally.wrong += 1
            else:
                tally.lost += 1
            tally.progress.notify_all()
    conn.close()


def deployment_memory_request_bytes() -> int:
    import yaml

    deployment = yaml.safe_load((KUBERNETES / "deployment.yaml").read_text())
    request = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"]
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    return int(request[:-2]) * units[request[-2:]]


def test_replicas_behind_nginx_lose_nothing(tmp_path):
    cache = os.environ.get("MODEL_CACHE_DIR")
    texts = texts_pool()
    expected = embed.Embedder(MODEL, model_cache_dir=cache).embed(texts)
    replicas = [
        Replica(free_port(), cache, tmp_path, env={"SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT_S), "INTRA_OP_THREADS": "1"})
        for _ in range(3)
    ]
    nginx = None
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_healthy()
        nginx = Nginx([r.port for r in replicas], tmp_path)
        nginx.start()

        tally = Tally()
        total = CLIENTS * REQUESTS_PER_CLIENT
        threads = [
            threading.Thread(target=client, args=(seed, nginx.port, texts, expected, tally)) for seed in range(CLIENTS)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()

        tally.wait_for(int(total * SIGTERM_AT))
        terminated = replicas[0]
        rss = [r.peak_rss_bytes() for r in replicas]
        terminated.signal(signal.SIGTERM)
        sigterm_at = time.perf_counter()
        code = terminated.wait_exit(timeout=SHUTDOWN_TIMEOUT_S + 10)
        drained_s = time.perf_counter() - sigterm_at
        assert code == 0, f"the replica given SIGTERM exited with {code}"
        terminated.start()
        terminated.wait_healthy()

        tally.wait_for(int(total * SIGKILL_AT))
        rss += [r.peak_rss_bytes() for r in replicas[1:]]
        replicas[1].signal(signal.SIGKILL)
        replicas[1].wait_exit(timeout=10)

        for thread in threads:
            thread.join(timeout=300)
        elapsed = time.perf_counter() - started
        assert not any(t.is_alive() for t in threads), "a client did not finish"
        nginx_lines = nginx.upstream_log()
    finally:
        if nginx is not None:
            nginx.stop()
        for replica in replicas:
            replica.stop()

    latencies = sorted(tally.latencies)
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    nginx_retried = sum(1 for line in nginx_lines if "," in line.split('"')[1])
    peak = max(rss)
    print(f"\nfailover: {total} requests from {CLIENTS} clients in {elapsed:.1f} s")
    print(f"  answered with the right vectors: {tally.answered}; lost: {tally.lost}; wrong: {tally.wrong}")
    print(f"  client retries: {tally.retries}; errors seen by clients, by kind: {dict(tally.errors) or 'none'}")
    print(f"  requests nginx passed on to another replica: {nginx_retried} of {len(nginx_lines)}")
    print(f"  latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"  SIGTERM: the replica finished its requests and exited 0 in {drained_s:.2f} s")
    print(f"  peak RSS of a replica under this load: {peak / 2**20:.0f} MiB")
    assert tally.lost == 0 and tally.wrong == 0, f"lost {tally.lost}, wrong {tally.wrong}: {dict(tally.errors)}"
    assert tally.answered == total
    assert len(nginx_lines) >= total
    request = deployment_memory_request_bytes()
    assert request >= peak, f"deployment.yaml requests {request / 2**20:.0f} MiB, a replica took {peak / 2**20:.0f} MiB"
