//! The defaults and the rules the Python layer resolves its settings with, taken from the Rust
//! crates so that the package and the `embed` command cannot drift apart: the default model,
//! backend, batch size, model cache and endpoints as module constants; where embed's cache and
//! the Hugging Face cache are (from an environment mapping the caller passes in); which folders
//! are searched for ONNX Runtime; how a backend name and an offline switch's value read.
//!
//! Each rule lives in embed-core or embed-fetch; this file only hands it to Python. It reads no
//! environment variable: the caller passes `os.environ` (or any mapping of names to values).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use embed_core::{BackendChoice, OrtLibrary};
use pyo3::prelude::*;
use pyo3::types::{PyMapping, PyTuple};

/// Adds the constants and functions below to the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_MODEL", embed_core::DEFAULT_MODEL)?;
    m.add("DEFAULT_BACKEND", BackendChoice::default().name())?;
    m.add("BACKENDS", PyTuple::new(m.py(), BackendChoice::NAMES)?)?;
    m.add("DEFAULT_BATCH_SIZE", embed_core::DEFAULT_BATCH_SIZE)?;
    m.add("DEFAULT_MODEL_CACHE_DIR", embed_core::DEFAULT_MODEL_CACHE_DIR)?;
    m.add("DEFAULT_PYPI_URL", embed_fetch::DEFAULT_PYPI_URL)?;
    m.add("DEFAULT_HF_ENDPOINT", embed_fetch::DEFAULT_HF_ENDPOINT)?;
    m.add_function(wrap_pyfunction!(resolve_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(ort_search_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(backend_name, m)?)?;
    m.add_function(wrap_pyfunction!(offline_value, m)?)?;
    Ok(())
}

/// `(embed's cache folder, the Hugging Face cache)` as the `embed` command finds them in
/// `environ` (a mapping of variable names to values, such as `os.environ`): `EMBED_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/embed`, else `~/.cache/embed`; and `HF_HUB_CACHE`, else
/// `HUGGINGFACE_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
/// `~/.cache/huggingface/hub`. An empty value counts as unset. The folders are returned as
/// found, not made absolute.
#[pyfunction]
fn resolve_dirs(environ: &Bound<'_, PyMapping>) -> PyResult<(OsString, OsString)> {
    let mut vars: HashMap<String, OsString> = HashMap::new();
    for item in environ.items()?.iter() {
        let (name, value): (String, OsString) = item.extract()?;
        vars.insert(name, value);
    }
    let var = |name: &str| vars.get(name).cloned();
    Ok((embed_fetch::cache_dir(var).into_os_string(), embed_core::hub_cache_dir(var).into_os_string()))
}

/// The folders searched for ONNX Runtime, in order, as the `embed` command searches them
/// (`./libs`, then the folder of embed's cache folder `cache_dir` that ONNX Runtime is fetched
/// into), as given: relative ones are relative to the working directory.
#[pyfunction]
fn ort_search_dirs(cache_dir: PathBuf) -> Vec<OsString> {
    let fetched = embed_fetch::libs_dir(&cache_dir);
    OrtLibrary::search_dirs(&fetched, None).into_iter().map(PathBuf::into_os_string).collect()
}

/// The backend `value` names, as the library reads it (`auto`, `native`, `onnx`, or
/// `onnxruntime`/`ort` for `onnx`, any case, spaces around ignored); `None` where it names none.
#[pyfunction]
fn backend_name(value: &str) -> Option<&'static str> {
    value.parse::<BackendChoice>().ok().map(BackendChoice::name)
}

/// Whether a value of an offline switch (`HF_HUB_OFFLINE`, `EMBED_OFFLINE`) means offline, as
/// huggingface_hub reads it (`1`, `true`, `yes`, `on`, `y`, any case).
#[pyfunction]
fn offline_value(value: &str) -> bool {
    embed_core::offline_value(value)
}
