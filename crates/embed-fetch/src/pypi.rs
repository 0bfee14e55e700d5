//! A small PyPI client: find a release's files through the JSON API, pick the ONNX Runtime
//! wheel for a platform, and download wheels into a cache checked by sha256.
//!
//! This file must not know what the wheels are used for (models, ONNX Runtime's layout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::download::{Downloader, Expected};
use crate::{FetchError, sha256_file};

/// PyPI's JSON API.
pub const DEFAULT_PYPI_URL: &str = "https://pypi.org/pypi";

/// One distribution file of a release, as the JSON API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WheelFile {
    /// The file name (`onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl`).
    pub filename: String,
    /// Absolute download URL (relative URLs in the JSON are resolved against the JSON's URL).
    pub url: String,
    /// sha256, lowercase hex.
    pub sha256: String,
    /// Size in bytes, when the index says.
    pub size: Option<u64>,
}

/// A host platform for which ONNX Runtime publishes wheels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Platform {
    /// Linux on x86-64 (glibc, `manylinux`).
    LinuxX86_64,
    /// Linux on 64-bit ARM (glibc, `manylinux`).
    LinuxAarch64,
    /// macOS on Apple silicon.
    MacosArm64,
    /// macOS on Intel.
    MacosX86_64,
    /// Windows on x86-64.
    WindowsAmd64,
    /// Windows on 64-bit ARM.
    WindowsArm64,
}

impl Platform {
    /// The platform this program runs on.
    pub fn host() -> Result<Self, FetchError> {
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        Self::from_os_arch(os, arch)
            .ok_or_else(|| FetchError::UnsupportedHost { os: os.to_string(), arch: arch.to_string() })
    }

    /// The platform for `std::env::consts::{OS, ARCH}` values.
    pub fn from_os_arch(os: &str, arch: &str) -> Option<Self> {
        Some(match (os, arch) {
            ("linux", "x86_64") => Self::LinuxX86_64,
            ("linux", "aarch64") => Self::LinuxAarch64,
            ("macos", "aarch64") => Self::MacosArm64,
            ("macos", "x86_64") => Self::MacosX86_64,
            ("windows", "x86_64") => Self::WindowsAmd64,
            ("windows", "aarch64") => Self::WindowsArm64,
            _ => return None,
        })
    }

    /// A short name (`linux-x86_64`).
    pub fn name(self) -> &'static str {
        match self {
            Self::LinuxX86_64 => "linux-x86_64",
            Self::LinuxAarch64 => "linux-aarch64",
            Self::MacosArm64 => "macos-arm64",
            Self::MacosX86_64 => "macos-x86_64",
            Self::WindowsAmd64 => "windows-amd64",
            Self::WindowsArm64 => "windows-arm64",
        }
    }

    /// Whether a wheel platform tag (possibly compressed: `a.b`) runs on this platform.
    fn accepts(self, platform_tag: &str) -> bool {
        platform_tag.split('.').any(|tag| match self {
            Self::LinuxX86_64 => tag.starts_with("manylinux") && tag.ends_with("_x86_64"),
            Self::LinuxAarch64 => tag.starts_with("manylinux") && tag.ends_with("_aarch64"),
            Self::MacosArm64 => tag.starts_with("macosx") && (tag.ends_with("_arm64") || tag.ends_with("_universal2")),
            Self::MacosX86_64 => {
                tag.starts_with("macosx") && (tag.ends_with("_x86_64") || tag.ends_with("_universal2"))
            }
            Self::WindowsAmd64 => tag == "win_amd64",
            Self::WindowsArm64 => tag == "win_arm64",
        })
    }
}

/// Picks the wheel of `files` for `platform`: any CPython build will do (only the shared
/// library inside is used); cp312, then cp311, then the newest other; free-threaded builds last.
pub fn select_platform_wheel(files: &[WheelFile], platform: Platform) -> Option<&WheelFile> {
    files
        .iter()
        .filter_map(|file| {
            let (python, abi, tag) = wheel_tags(&file.filename)?;
            if !platform.accepts(tag) || !python.starts_with("cp") {
                return None;
            }
            let free_threaded = abi.ends_with('t');
            let preference = match python {
                "cp312" => 0,
                "cp311" => 1,
                _ => 2,
            };
            let minor: u32 = python.strip_prefix("cp3").and_then(|m| m.parse().ok()).unwrap_or(0);
            Some(((free_threaded, preference, std::cmp::Reverse(minor)), file))
        })
        .min_by_key(|(key, _)| *key)
        .map(|(_, file)| file)
}

/// `(python tag, abi tag, platform tag)` of a wheel file name.
fn wheel_tags(filename: &str) -> Option<(&str, &str, &str)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    match parts.as_slice() {
        [_, _, python, abi, platform] | [_, _, _, python, abi, platform] => Some((python, abi, platform)),
        _ => None,
    }
}

#[derive(Deserialize)]
struct VersionJson {
    urls: Vec<FileJson>,
}

#[derive(Deserialize)]
struct ProjectJson {
    releases: BTreeMap<String, Vec<FileJson>>,
}

#[derive(Deserialize)]
struct FileJson {
    filename: String,
    url: String,
    digests: DigestsJson,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct DigestsJson {
    sha256: String,
}

/// A PyPI JSON API client.
#[derive(Debug, Clone)]
pub struct PypiClient {
    base: String,
    downloader: Downloader,
}

impl PypiClient {
    /// A client for the JSON API at `base_url` (`https://pypi.org/pypi`, see [`DEFAULT_PYPI_URL`]).
    pub fn new(base_url: &str, downloader: Downloader) -> Self {
        Self { base: base_url.trim_end_matches('/').to_string(), downloader }
    }

    /// The JSON API's URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The downloader this client uses.
    pub fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    /// Every file of `package` `version`.
    ///
    /// Asks `<base>/<package>/<version>/json`; where an index does not serve per-version
    /// documents, falls back to the project document's `releases`.
    pub fn files(&self, package: &str, version: &str) -> Result<Vec<WheelFile>, FetchError> {
        let url = format!("{}/{package}/{version}/json", self.base);
        let (url, files) = match self.downloader.get_json::<VersionJson>(&url) {
            Ok(doc) => (url, doc.urls),
            Err(err) if err.is_not_found() => {
                let url = format!("{}/{package}/json", self.base);
                let mut doc: ProjectJson = self.downloader.get_json(&url)?;
                let files = doc.releases.remove(version).ok_or_else(|| FetchError::NoSuchFile {
                    what: "release".to_string(),
                    package: package.to_string(),
                    version: version.to_string(),
                    available: doc.releases.keys().rev().take(10).cloned().collect(),
                })?;
                (url, files)
            }
            Err(err) => return Err(err),
        };
        let base =
            url::Url::parse(&url).map_err(|err| FetchError::InvalidUrl { url: url.clone(), source: Box::new(err) })?;
        files
            .into_iter()
            .map(|file| {
                let resolved = base
                    .join(&file.url)
                    .map_err(|err| FetchError::InvalidUrl { url: file.url.clone(), source: Box::new(err) })?;
                Ok(WheelFile {
                    filename: file.filename,
                    url: resolved.into(),
                    sha256: file.digests.sha256.to_ascii_lowercase(),
                    size: file.size,
                })
            })
            .collect()
    }

    /// The wheel `filename` of `package` `version`, or its only wheel when `filename` is `None`.
    pub fn wheel(&self, package: &str, version: &str, filename: Option<&str>) -> Result<WheelFile, FetchError> {
        let files = self.files(package, version)?;
        let mut wheels = files.iter().filter(|f| match filename {
            Some(name) => f.filename == name,
            None => f.filename.ends_with(".whl"),
        });
        match (wheels.next(), wheels.next()) {
            (Some(wheel), None) => Ok(wheel.clone()),
            _ => Err(FetchError::NoSuchFile {
                what: filename.map_or("single wheel".to_string(), |name| format!("file {name}")),
                package: package.to_string(),
                version: version.to_string(),
                available: files.into_iter().map(|f| f.filename).collect(),
            }),
        }
    }

    /// The `onnxruntime` wheel of `version` for `platform`.
    pub fn ort_wheel(&self, version: &str, platform: Platform) -> Result<WheelFile, FetchError> {
        let files = self.files("onnxruntime", version)?;
        match select_platform_wheel(&files, platform) {
            Some(wheel) => Ok(wheel.clone()),
            None => Err(FetchError::NoSuchFile {
                what: format!("wheel for {}", platform.name()),
                package: "onnxruntime".to_string(),
                version: version.to_string(),
                available: files.into_iter().map(|f| f.filename).collect(),
            }),
        }
    }

    /// Downloads `wheel` into `cache_dir` (kept there; reused when its sha256 matches).
    pub fn download(&self, wheel: &WheelFile, cache_dir: &Path) -> Result<PathBuf, FetchError> {
        let mut expected = Expected::sha256(&wheel.sha256);
        expected.size = wheel.size;
        let dest = cache_dir.join(&wheel.filename);
        let done = self.downloader.download(&wheel.url, &dest, &expected)?;
        Ok(done.path)
    }

    /// The wheel `filename` of `package` `version` with this sha256, from `cache_dir` when it is
    /// there already (no request made), else downloaded into it.
    pub fn fetch_pinned(
        &self,
        package: &str,
        version: &str,
        filename: &str,
        sha256: &str,
        cache_dir: &Path,
    ) -> Result<PathBuf, FetchError> {
        let cached = cache_dir.join(filename);
        if cached.is_file() && sha256_file(&cached)?.0.eq_ignore_ascii_case(sha256) {
            return Ok(cached);
        }
        let wheel = self.wheel(package, version, Some(filename))?;
        if !wheel.sha256.eq_ignore_ascii_case(sha256) {
            return Err(FetchError::HashMismatch {
                url: wheel.url,
                algorithm: "sha256",
                expected: sha256.to_ascii_lowercase(),
                found: format!("{} (as the index publishes it)", wheel.sha256),
            });
        }
        self.download(&wheel, cache_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> WheelFile {
        WheelFile { filename: name.to_string(), url: String::new(), sha256: String::new(), size: None }
    }

    #[test]
    fn picks_the_wheel_for_each_platform() {
        let files: Vec<WheelFile> = [
            "onnxruntime-1.31.1-cp311-cp311-win_arm64.whl",
            "onnxruntime-1.31.1-cp313-cp313t-manylinux_2_28_x86_64.whl",
            "onnxruntime-1.31.1-cp314-cp314-manylinux_2_28_x86_64.whl",
            "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl",
            "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl",
            "onnxruntime-1.31.1-cp313-cp313-macosx_14_0_arm64.whl",
            "onnxruntime-1.31.1-cp311-cp311-win_amd64.whl",
            "onnxruntime-1.31.1.tar.gz",
        ]
        .into_iter()
        .map(file)
        .collect();
        let pick = |p| select_platform_wheel(&files, p).map(|f| f.filename.as_str());
        assert_eq!(pick(Platform::LinuxX86_64), Some("onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl"));
        assert_eq!(pick(Platform::LinuxAarch64), Some("onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl"));
        assert_eq!(pick(Platform::MacosArm64), Some("onnxruntime-1.31.1-cp313-cp313-macosx_14_0_arm64.whl"));
        assert_eq!(pick(Platform::MacosX86_64), None);
        assert_eq!(pick(Platform::WindowsAmd64), Some("onnxruntime-1.31.1-cp311-cp311-win_amd64.whl"));
        assert_eq!(pick(Platform::WindowsArm64), Some("onnxruntime-1.31.1-cp311-cp311-win_arm64.whl"));
    }

    #[test]
    fn knows_the_host_platforms() {
        assert_eq!(Platform::from_os_arch("linux", "x86_64"), Some(Platform::LinuxX86_64));
        assert_eq!(Platform::from_os_arch("macos", "aarch64"), Some(Platform::MacosArm64));
        assert_eq!(Platform::from_os_arch("freebsd", "x86_64"), None);
    }
}
