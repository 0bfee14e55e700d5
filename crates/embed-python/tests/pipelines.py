"""The code the Ray and Spark tests ship to their workers, as docs/scale-out.md shows it: a
callable class for Ray Data's `map_batches` and a function for Spark's `mapInArrow`. Workers
import this module by name (the tests put its folder on their PYTHONPATH), as a cluster's
workers import a job's own modules."""

from __future__ import annotations

from typing import Dict, Iterator, Tuple

import numpy as np
import pyarrow as pa

import embed


class EmbedText:
    """Ray Data: each actor of the pool loads the model once (unpickling the Embedder it is
    given loads it there), then embeds batch after batch of the `text` column."""

    def __init__(self, embedder: embed.Embedder) -> None:
        self.embedder = embedder

    def __call__(self, batch: pa.Table) -> pa.Table:
        vectors = self.embedder.embed_arrow(batch.column("text"))
        return pa.table({"id": batch.column("id"), "embedding": vectors})


# One Embedder per Python worker process and settings: Spark reuses its Python workers across
# tasks, and unpickles a task's function for every task.
_loaded: Dict[Tuple, embed.Embedder] = {}


def embed_partitions(settings: Dict[str, object]):
    """Spark: a `mapInArrow` function embedding the `text` column of each Arrow batch into an
    `array<float>` column beside `id`. Takes the Embedder's settings (a dict pickles with the
    function), loads the model once per Python worker."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        key = tuple(sorted(settings.items()))
        embedder = _loaded.get(key)
        if embedder is None:
            embedder = _loaded[key] = embed.Embedder.from_settings(settings)
        for batch in batches:
            vectors = embedder.embed_arrow(batch.column("text"))
            # Spark takes a list column: the same values, with offsets every `dimension` floats.
            offsets = pa.array(np.arange(len(vectors) + 1, dtype=np.int32) * embedder.dimension)
            lists = pa.ListArray.from_arrays(offsets, vectors.values)
            yield pa.RecordBatch.from_arrays([batch.column("id"), lists], names=["id", "embedding"])

    return run


def embed_udf(settings: Dict[str, object], batch_rows: int):
    """Spark: the same embedding as a column expression, through PySpark's own
    `predict_batch_udf`, which calls `make_predict_fn` once per Python worker (the model loads
    once there) and hands `predict` numpy batches of `batch_rows` texts. Needs pandas."""
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType

    def make_predict_fn():
        embedder = embed.Embedder.from_settings(settings)

        def predict(texts: np.ndarray) -> np.ndarray:
            return embedder.embed(texts.tolist())

        return predict

    return predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()), batch_size=batch_rows)
