"""Type stubs of the extension module `embed._embed` (Rust): use `embed.Embedder` instead."""

from typing import List, Mapping, Optional, Sequence, Tuple

DEFAULT_MODEL: str
DEFAULT_BACKEND: str
BACKENDS: Tuple[str, ...]
DEFAULT_BATCH_SIZE: int
DEFAULT_MODEL_CACHE_DIR: str
DEFAULT_PYPI_URL: str
DEFAULT_HF_ENDPOINT: str

def resolve_dirs(environ: Mapping[str, str]) -> Tuple[str, str]:
    """(embed's cache folder, the Hugging Face cache) as the `embed` command finds them in
    `environ`; not made absolute."""

def ort_search_dirs(cache_dir: str) -> List[str]:
    """The folders searched for ONNX Runtime, in order, given embed's cache folder; relative
    ones are relative to the working directory."""

def backend_name(value: str) -> Optional[str]:
    """The backend `value` names (`auto`, `native`, `onnx`), or None where it names none."""

def offline_value(value: str) -> bool:
    """Whether a value of an offline switch means offline, as huggingface_hub reads it."""

class EmbedError(Exception):
    """An error from embed: a model that cannot be found, fetched or loaded, or text it cannot embed."""

class FetchSettings:
    def __init__(
        self,
        *,
        hub_endpoint: Optional[str],
        hub_token: Optional[str],
        pypi_url: str,
        allow_unverified: bool,
        cache_dir: str,
        quiet: bool,
    ) -> None: ...

class Engine:
    def __init__(
        self,
        *,
        model: str,
        backend: str,
        threads: Optional[int],
        batch_size: int,
        normalize: bool,
        model_cache_dir: str,
        hub_cache_dir: str,
        onnxruntime_lib: Optional[str],
        ort_search_dirs: List[str],
        fetch: Optional[FetchSettings],
    ) -> None: ...
    @property
    def dimension(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def engine(self) -> str: ...
    def embed(self, texts: Sequence[str]) -> bytearray: ...
    def embed_arrow(self, arrays: Sequence[Tuple[object, object]]) -> bytearray: ...
