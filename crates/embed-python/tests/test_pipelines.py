"""Ray Data and Spark, each started in local mode on this machine, embed the Parquet corpus
through the package: every row comes back once, with the library's vector (cosine >= 0.99999),
and each pipeline's texts/s is reported beside the library's alone on the same corpus.

Each pipeline runs 2 workers of 1 thread on the 2 cores that the library alone runs with 2
threads; the Embedder leaves its threads unset, so each worker takes what Ray or Spark gave it.
Spark runs `mapInArrow` and `predict_batch_udf`, then twice as many workers as cores, with one
thread each and with a thread per core each, to show what oversubscription costs. The time counted runs from reading the Parquet file to having every vector back in
this process; starting Ray or Spark itself is not counted."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import embed
from conftest import CORES, MODEL, ROW_GROUPS, cosines, record_figure

TESTS = str(Path(__file__).resolve().parent)
WORKERS = 2
# The CPUs Ray accounts to each actor. Ray Data's file listing and Parquet reads are tasks that
# need a CPU of their own: actors taking both of `ray.init(num_cpus=2)`'s CPUs would leave them
# none, and the pipeline would wait forever. Half each leaves one; each actor still runs one
# thread, so the two of them use the two cores.
ACTOR_CPUS = 0.5
# Rows per batch handed to a worker.
BATCH_ROWS = 512
# The least share of the library's texts/s a pipeline must reach here. The target is 90% (see
# docs/scale-out.md for the measured figures); this floor leaves room for a shared, noisy
# machine, and still fails a pipeline that serializes or copies row by row.
FLOOR = 0.3


@pytest.fixture(scope="module", autouse=True)
def workers_import_the_pipelines():
    """Ray's and Spark's worker processes inherit this environment: they import `pipelines`."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = TESTS + (os.pathsep + old if old else "")
    yield
    if old is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = old


def check(name, ids, vectors, corpus, library, elapsed):
    """Every row once, every vector the library's; records the figure."""
    n = len(corpus["texts"])
    ids = np.asarray(ids, dtype=np.int64)
    assert len(ids) == n, f"{name}: {len(ids)} rows back for {n}"
    assert (np.sort(ids) == corpus["ids"]).all(), f"{name}: rows missing or repeated"
    vectors = np.asarray(vectors, dtype=np.float32).reshape(n, -1)
    worst = cosines(vectors, library["vectors"][ids]).min()
    assert worst >= 0.99999, f"{name}: lowest cosine to the library's vector {worst}"
    rate = n / elapsed
    record_figure(name, rate)
    share = rate / library["texts_per_second"]
    print(f"{name}: {n} texts in {elapsed:.2f} s, {rate:.1f} texts/s, {share:.0%} of the library alone")
    assert share >= FLOOR, f"{name}: {rate:.1f} texts/s is {share:.0%} of the library's {library['texts_per_second']:.1f}"


def test_ray_data_map_batches(corpus, library, model_cache_dir):
    ray = pytest.importorskip("ray")
    import pyarrow as pa

    import pipelines

    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=True, configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        # Threads left unset: each actor takes the CPUs Ray assigned it (half a CPU: 1 thread).
        embedder = embed.Embedder(MODEL, model_cache_dir=model_cache_dir)
        started = time.perf_counter()
        # One file is one read task whose output reaches one actor as one bundle, whatever
        # `override_num_blocks` says (Ray 2.60: the other actor then idles, and the pipeline ran
        # at about half the library's speed); split into blocks, both actors get work.
        ds = ray.data.read_parquet(corpus["path"]).repartition(ROW_GROUPS).map_batches(
            pipelines.EmbedText,
            fn_constructor_kwargs={"embedder": embedder},
            concurrency=WORKERS,
            num_cpus=ACTOR_CPUS,
            batch_size=BATCH_ROWS,
            batch_format="pyarrow",
        )
        table = pa.concat_tables(ray.get(ds.to_arrow_refs()))
        elapsed = time.perf_counter() - started
        del ds  # its actors give their CPUs back
        threads_of = ray.remote(lambda e: e.threads)
        assigned = {
            cpus: ray.get(threads_of.options(num_cpus=cpus).remote(embedder), timeout=120) for cpus in (0.5, 1, 1.5)
        }
    finally:
        ray.shutdown()
    assert assigned == {0.5: 1, 1: 1, 1.5: 2}, f"threads for the CPUs Ray assigned: {assigned}"
    vectors = table.column("embedding").combine_chunks().flatten().to_numpy()
    check("Ray Data (2 actors)", table.column("id").to_numpy(), vectors, corpus, library, elapsed)


@contextmanager
def spark_session(workers, corpus):
    """Spark on `local[workers]`: `workers` task slots of one CPU each (`spark.task.cpus` 1),
    the corpus split into 2 partitions per worker."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    # Spark starts its Python workers with PYSPARK_PYTHON: this interpreter, which has embed.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    size = os.path.getsize(corpus["path"])
    spark = (
        SparkSession.builder.master(f"local[{workers}]")
        .appName("embed-test")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
        # The corpus is one small file: split it by row groups, 2 tasks per worker.
        .config("spark.sql.files.maxPartitionBytes", str(size // (2 * workers) + 1))
        .config("spark.sql.files.openCostInBytes", "0")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    try:
        spark.sparkContext.setLogLevel("ERROR")
        yield spark
    finally:
        spark.stop()


def run_spark(name, workers, settings, corpus, library, embed_frame):
    """Times `embed_frame(spark, df)` (a frame of `id` and `embedding`) from reading the corpus
    to every vector in this process, checks it, and checks each task resolved one thread where
    the settings leave threads unset."""
    with spark_session(workers, corpus) as spark:
        started = time.perf_counter()
        df = spark.read.parquet(corpus["path"])
        table = embed_frame(spark, df).toArrow()
        elapsed = time.perf_counter() - started
        partitions = df.rdd.getNumPartitions()
        assigned = (
            spark.sparkContext.parallelize([0], 1).map(lambda _: embed.Embedder.from_settings(settings).threads).collect()
        )
    want = settings["threads"] if settings["threads"] is not None else 1
    assert assigned == [want], f"threads in a Spark task with spark.task.cpus=1: {assigned}"
    assert partitions >= workers, f"the corpus was read as {partitions} partition(s)"
    vectors = table.column("embedding").combine_chunks().flatten().to_numpy()
    check(name, table.column("id").to_numpy(), vectors, corpus, library, elapsed)


def test_spark_map_in_arrow(corpus, library, model_cache_dir):
    import pipelines

    # Threads left unset: each task takes spark.task.cpus (1 here).
    settings = embed.Embedder(MODEL, model_cache_dir=model_cache_dir).settings
    run_spark(
        f"Spark mapInArrow (local[{WORKERS}])",
        WORKERS,
        settings,
        corpus,
        library,
        lambda spark, df: df.mapInArrow(pipelines.embed_partitions(settings), "id long, embedding array<float>"),
    )


def test_spark_predict_batch_udf(corpus, library, model_cache_dir):
    pytest.importorskip("pandas")
    import pipelines

    settings = embed.Embedder(MODEL, model_cache_dir=model_cache_dir).settings
    run_spark(
        f"Spark predict_batch_udf (local[{WORKERS}])",
        WORKERS,
        settings,
        corpus,
        library,
        lambda spark, df: df.select("id", pipelines.embed_udf(settings, BATCH_ROWS)("text").alias("embedding")),
    )


def test_spark_more_workers_than_cores(corpus, library, model_cache_dir):
    """Twice as many workers as cores: each with the one thread its task slot gives it, then each
    with a thread per core of the machine (what every worker did before threads followed the
    task's CPUs). Both are reported; the first must keep the floor."""
    import pipelines

    workers = 2 * CORES
    frame = lambda settings: lambda spark, df: df.mapInArrow(  # noqa: E731
        pipelines.embed_partitions(settings), "id long, embedding array<float>"
    )
    resolved = embed.Embedder(MODEL, model_cache_dir=model_cache_dir).settings
    every_core = embed.Embedder(MODEL, model_cache_dir=model_cache_dir, threads=CORES).settings
    run_spark(f"Spark {workers} workers x {CORES} threads", workers, every_core, corpus, library, frame(every_core))
    run_spark(f"Spark {workers} workers x 1 thread", workers, resolved, corpus, library, frame(resolved))
