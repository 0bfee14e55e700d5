//! ONNX Runtime from PyPI: the shared library taken out of the `onnxruntime` wheel for the host.
//!
//! Layout: `<libs>/onnxruntime-<version>/` holds the library as the wheel names it
//! (`libonnxruntime.so.1.31.1`), `libonnxruntime_providers_shared.*` where the wheel has it, and
//! the plain name (`libonnxruntime.so`, `libonnxruntime.dylib`, `onnxruntime.dll`). The folder is
//! assembled under a temporary name of this process's own and renamed, so it is either whole or
//! absent, all under the folder's lock ([`crate::CacheLock`]): processes started together fetch
//! it once, the others wait and use it. This file must not know how the library is loaded.

use std::fs;
use std::path::{Path, PathBuf};

use crate::pypi::{Platform, PypiClient};
use crate::{FetchError, archive};

/// `<libs>/onnxruntime-<version>`.
pub fn ort_dir(libs_dir: &Path, version: &str) -> PathBuf {
    libs_dir.join(format!("onnxruntime-{version}"))
}

/// The plain file name of the library on a platform (`libonnxruntime.so`).
pub fn ort_library_name(platform: Platform) -> &'static str {
    match platform {
        Platform::LinuxX86_64 | Platform::LinuxAarch64 => "libonnxruntime.so",
        Platform::MacosArm64 | Platform::MacosX86_64 => "libonnxruntime.dylib",
        Platform::WindowsAmd64 | Platform::WindowsArm64 => "onnxruntime.dll",
    }
}

/// Where [`fetch_ort`] puts the library for this host (whether or not it is there).
pub fn ort_library_path(libs_dir: &Path, version: &str) -> Result<PathBuf, FetchError> {
    Ok(ort_dir(libs_dir, version).join(ort_library_name(Platform::host()?)))
}

/// Fetches ONNX Runtime `version` for this host into `<libs>/onnxruntime-<version>/` and
/// returns the path of the library (by its plain name).
///
/// The wheel is downloaded into `download_dir` (kept as a cache) and checked against the sha256
/// PyPI publishes while it streams. When the library is already there nothing is done; while
/// another process fetches it, this one waits (saying so on stderr) and then uses it.
pub fn fetch_ort(
    pypi: &PypiClient,
    version: &str,
    libs_dir: &Path,
    download_dir: &Path,
) -> Result<PathBuf, FetchError> {
    let platform = Platform::host()?;
    let dir = ort_dir(libs_dir, version);
    let library = dir.join(ort_library_name(platform));
    if library.is_file() {
        return Ok(library);
    }
    let _lock = pypi.downloader().lock(&dir, &format!("fetching onnxruntime {version} into {}", dir.display()))?;
    if library.is_file() {
        return Ok(library);
    }
    remove_staging_debris(libs_dir, version)?;
    let wheel = pypi.ort_wheel(version, platform)?;
    let wheel_path = pypi.download(&wheel, download_dir)?;

    let members = archive::members(&wheel_path)?;
    let wanted: Vec<&String> = members.iter().filter(|m| is_runtime_library(m)).collect();
    let main =
        wanted.iter().find(|m| is_main_library(file_name(m), platform)).ok_or_else(|| FetchError::MissingMember {
            archive: wheel_path.clone(),
            member: format!("onnxruntime/capi/{}*", ort_library_name(platform)),
        })?;

    let staging = tempfile::Builder::new()
        .prefix(&staging_prefix(version))
        .tempdir_in(libs_dir)
        .map_err(FetchError::io("create a folder in", libs_dir))?;
    for member in &wanted {
        archive::extract_file(&wheel_path, member, &staging.path().join(file_name(member)))?;
    }
    let main_name = file_name(main);
    let plain = ort_library_name(platform);
    if main_name != plain {
        link_or_copy(main_name, &staging.path().join(plain))?;
    }
    if dir.exists() {
        // A folder without the library is debris from an older layout or a manual edit.
        fs::remove_dir_all(&dir).map_err(FetchError::io("remove", &dir))?;
    }
    fs::rename(staging.path(), &dir).map_err(FetchError::io("rename to its final name", staging.path()))?;
    // Renamed: nothing is left for the temporary folder to remove.
    let _ = staging.keep();
    Ok(library)
}

/// The start of the name of a folder the library is assembled in: `.onnxruntime-<version>.`.
fn staging_prefix(version: &str) -> String {
    format!(".onnxruntime-{version}.")
}

/// Removes folders a fetch of `version` was assembling when its process died. Called with the
/// lock held, so no living process is using one.
fn remove_staging_debris(libs_dir: &Path, version: &str) -> Result<(), FetchError> {
    let prefix = staging_prefix(version);
    let Ok(entries) = fs::read_dir(libs_dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let is_debris = entry.file_name().to_str().is_some_and(|name| name.starts_with(&prefix))
            && entry.file_type().is_ok_and(|kind| kind.is_dir());
        if is_debris {
            fs::remove_dir_all(entry.path()).map_err(FetchError::io("remove", entry.path()))?;
        }
    }
    Ok(())
}

fn file_name(member: &str) -> &str {
    member.rsplit('/').next().unwrap_or(member)
}

/// `onnxruntime/capi/(lib)onnxruntime*.{so*,dylib,dll}`, without the Python extension module.
fn is_runtime_library(member: &str) -> bool {
    let Some(name) = member.strip_prefix("onnxruntime/capi/") else {
        return false;
    };
    if name.contains('/') || name.contains("pybind") {
        return false;
    }
    let stem_ok = name.starts_with("libonnxruntime") || name.starts_with("onnxruntime");
    let shared = name.ends_with(".dll") || name.ends_with(".dylib") || name.ends_with(".so") || name.contains(".so.");
    stem_ok && shared
}

/// The main library as the wheel names it: `libonnxruntime.so.1.31.1`, `libonnxruntime.1.31.1.dylib`, `onnxruntime.dll`.
fn is_main_library(name: &str, platform: Platform) -> bool {
    match platform {
        Platform::LinuxX86_64 | Platform::LinuxAarch64 => name.starts_with("libonnxruntime.so"),
        Platform::MacosArm64 | Platform::MacosX86_64 => name.starts_with("libonnxruntime.") && name.ends_with(".dylib"),
        Platform::WindowsAmd64 | Platform::WindowsArm64 => name == "onnxruntime.dll",
    }
}

#[cfg(unix)]
fn link_or_copy(target_name: &str, link: &Path) -> Result<(), FetchError> {
    std::os::unix::fs::symlink(target_name, link).map_err(FetchError::io("create the link", link))
}

#[cfg(not(unix))]
fn link_or_copy(target_name: &str, link: &Path) -> Result<(), FetchError> {
    let source = link.with_file_name(target_name);
    fs::copy(&source, link).map(drop).map_err(FetchError::io("create", link))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_runtime_libraries_of_a_wheel() {
        let members = [
            "onnxruntime/capi/libonnxruntime.so.1.31.1",
            "onnxruntime/capi/libonnxruntime_providers_shared.so",
            "onnxruntime/capi/onnxruntime_pybind11_state.so",
            "onnxruntime/capi/onnxruntime.dll",
            "onnxruntime/capi/onnxruntime_providers_shared.dll",
            "onnxruntime/capi/libonnxruntime.1.31.1.dylib",
            "onnxruntime/capi/_pybind_state.py",
            "onnxruntime/tools/libonnxruntime.so",
        ];
        let chosen: Vec<&str> = members.into_iter().filter(|m| is_runtime_library(m)).collect();
        assert_eq!(chosen.len(), 5, "{chosen:?}");
        assert!(is_main_library("libonnxruntime.so.1.31.1", Platform::LinuxX86_64));
        assert!(!is_main_library("libonnxruntime_providers_shared.so", Platform::LinuxX86_64));
        assert!(is_main_library("libonnxruntime.1.31.1.dylib", Platform::MacosArm64));
        assert!(!is_main_library("onnxruntime_providers_shared.dll", Platform::WindowsAmd64));
    }
}
