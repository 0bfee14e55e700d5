//! `embed._embed`: the extension module under embed's Python package (`python/embed/`).
//!
//! It holds one [`embed_core::Service`] per `Engine` and embeds with the GIL released, so
//! Python threads overlap. Texts come in as a list of `str` or as Arrow string arrays read in
//! place through the Arrow C data interface (`arrow.rs`); vectors go out as one `bytearray` of
//! little-endian float32 rows, which the Python layer views as a numpy array or an Arrow
//! `FixedSizeListArray` without copying. A model or ONNX Runtime that is missing is fetched
//! (`fetch.rs`) unless the caller said offline. The defaults and the rules for the folders the
//! Python layer resolves its settings with are the Rust crates' own, handed over by
//! `defaults.rs`.
//!
//! This file knows embed-core's entry points (`Config`, `Service`) and nothing of how models
//! run. It reads no environment variable: the Python layer resolves the settings (arguments,
//! then the CLI's variables, then the CLI's defaults) and passes every one of them in.

mod arrow;
mod defaults;
mod fetch;

use std::path::PathBuf;

use embed_core::{BackendChoice, BatchPolicy, Config, OrtLibrary, RuntimeConfig, Service, VectorOptions};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyCapsule};

pyo3::create_exception!(
    _embed,
    EmbedError,
    PyException,
    "An error from embed: a model that cannot be found, fetched or loaded, or text it cannot embed."
);

/// Turns an error and its causes into one message, `error: cause: cause`, as the CLI prints it.
fn message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

fn to_py(error: &(dyn std::error::Error + 'static)) -> PyErr {
    EmbedError::new_err(message(error))
}

/// The settings an `Engine` is built from, all resolved by the Python layer.
struct Settings {
    model: String,
    backend: BackendChoice,
    threads: Option<usize>,
    batch_size: usize,
    normalize: bool,
    model_cache_dir: PathBuf,
    hub_cache_dir: PathBuf,
    onnxruntime_lib: Option<PathBuf>,
    ort_search_dirs: Vec<PathBuf>,
}

impl Settings {
    fn to_config(&self) -> Config {
        Config {
            model: self.model.clone(),
            model_cache_dir: self.model_cache_dir.clone(),
            hub_cache_dir: Some(self.hub_cache_dir.clone()),
            batching: BatchPolicy { max_texts: self.batch_size, ..BatchPolicy::default() },
            options: VectorOptions { normalize: self.normalize, ..VectorOptions::default() },
            runtime: RuntimeConfig { intra_op_threads: self.threads, ..RuntimeConfig::default() },
            onnxruntime: OrtLibrary { path: self.onnxruntime_lib.clone(), search_dirs: self.ort_search_dirs.clone() },
            backend: self.backend,
            ..Config::default()
        }
    }
}

/// One loaded model and the settings it was loaded with.
#[pyclass(module = "embed._embed", frozen)]
struct Engine {
    service: Service,
    dimension: usize,
}

#[pymethods]
impl Engine {
    /// Loads `model` (fetching it, or ONNX Runtime, first where it is missing, unless
    /// `offline`), with the GIL released.
    #[new]
    #[pyo3(signature = (*, model, backend, threads, batch_size, normalize, model_cache_dir, hub_cache_dir, onnxruntime_lib, ort_search_dirs, fetch))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: String,
        backend: &str,
        threads: Option<usize>,
        batch_size: usize,
        normalize: bool,
        model_cache_dir: PathBuf,
        hub_cache_dir: PathBuf,
        onnxruntime_lib: Option<PathBuf>,
        ort_search_dirs: Vec<PathBuf>,
        fetch: Option<fetch::FetchSettings>,
    ) -> PyResult<Self> {
        let backend: BackendChoice = backend.parse().map_err(|e: embed_core::EmbedError| to_py(&e))?;
        if threads == Some(0) {
            return Err(EmbedError::new_err("threads must be at least 1, found 0"));
        }
        let settings = Settings {
            model,
            backend,
            threads,
            batch_size,
            normalize,
            model_cache_dir,
            hub_cache_dir,
            onnxruntime_lib,
            ort_search_dirs,
        };
        let service =
            py.detach(|| fetch::open_service(settings.to_config(), fetch.as_ref())).map_err(|e| to_py(&*e))?;
        let dimension = service.model().dimension();
        Ok(Self { service, dimension })
    }

    /// The width of the model's vectors.
    #[getter]
    fn dimension(&self) -> usize {
        self.dimension
    }

    /// The model as the library names it: `name:variant` (`all-MiniLM-L6-v2:fp32`), the hub id
    /// as given (`org/name@revision`), or its directory.
    #[getter]
    fn model(&self) -> String {
        self.service.model().files().name.clone()
    }

    /// The engine running the model, as the library names it (`native avx512`,
    /// `onnxruntime 1.23.0`).
    #[getter]
    fn engine(&self) -> String {
        self.service.model().engine()
    }

    /// Embeds `texts`, in order, into one `bytearray` of `len(texts) × dimension` float32s.
    fn embed<'py>(&self, py: Python<'py>, texts: Vec<String>) -> PyResult<Bound<'py, PyByteArray>> {
        let vectors = py.detach(|| self.service.embed_batch(&texts)).map_err(|e| to_py(&e))?;
        self.rows(py, &vectors)
    }

    /// Embeds the strings of Arrow arrays, given as `(schema, array)` capsule pairs of the
    /// Arrow PyCapsule interface, read where they lie; one `bytearray` of rows for all of
    /// them, in order.
    fn embed_arrow<'py>(
        &self,
        py: Python<'py>,
        arrays: Vec<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)>,
    ) -> PyResult<Bound<'py, PyByteArray>> {
        let mut texts: Vec<&str> = Vec::new();
        for (schema, array) in &arrays {
            // The capsules (and so the memory the strings point into) live until this returns.
            arrow::append_strings(schema, array, &mut texts)?;
        }
        let vectors = py.detach(|| self.service.embed_batch(&texts)).map_err(|e| to_py(&e))?;
        self.rows(py, &vectors)
    }
}

impl Engine {
    /// The vectors, row after row, as native-endian float32 bytes.
    fn rows<'py>(&self, py: Python<'py>, vectors: &[Vec<f32>]) -> PyResult<Bound<'py, PyByteArray>> {
        let row_bytes = self.dimension * std::mem::size_of::<f32>();
        PyByteArray::new_with(py, vectors.len() * row_bytes, |out| {
            for (row, vector) in out.chunks_exact_mut(row_bytes).zip(vectors) {
                if vector.len() != self.dimension {
                    return Err(EmbedError::new_err(format!(
                        "expected {}-dimensional vectors, found one of {}",
                        self.dimension,
                        vector.len()
                    )));
                }
                for (bytes, value) in row.chunks_exact_mut(4).zip(vector) {
                    bytes.copy_from_slice(&value.to_ne_bytes());
                }
            }
            Ok(())
        })
    }
}

/// The extension module.
#[pymodule]
fn _embed(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<fetch::FetchSettings>()?;
    m.add("EmbedError", m.py().get_type::<EmbedError>())?;
    defaults::register(m)
}
