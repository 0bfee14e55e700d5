//! A small Hugging Face hub client: files at `{endpoint}/{repo}/resolve/{revision}/{path}`.
//!
//! A `HEAD` request (redirects not followed) gives the file's sha256 (`X-Linked-Etag`, or `ETag`
//! when it is a sha256) and size (`X-Linked-Size`, or `Content-Length`); the `GET` then follows
//! redirects and is checked against them. A model is fetched support files first, ONNX external
//! data next and the ONNX file last, each through a temporary name, so an interrupted fetch
//! never leaves a model that loads half-written. This file must not know about PyPI or conversion.

use std::path::Path;

use embed_manifest::{ModelSpec, SupportFiles};

use crate::FetchError;
use crate::download::{Downloaded, Downloader, Expected};

/// The public hub.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// Where the hub is and how to authenticate.
#[derive(Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Base URL (`https://huggingface.co`, or a mirror).
    pub endpoint: String,
    /// An access token, sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self { endpoint: DEFAULT_HF_ENDPOINT.to_string(), token: None }
    }
}

impl HubConfig {
    /// A configuration for `endpoint` (empty means the public hub) and an optional token (empty means none).
    pub fn new(endpoint: Option<&str>, token: Option<&str>) -> Self {
        let endpoint = endpoint.map(str::trim).filter(|e| !e.is_empty()).unwrap_or(DEFAULT_HF_ENDPOINT);
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: token.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string),
        }
    }
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the hub says about a file before it is downloaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubFileInfo {
    /// sha256 (LFS files).
    pub sha256: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
}

/// The result of [`HubClient::fetch_model`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HubFetch {
    /// Files written or found up to date, relative to the model directory, in the order fetched.
    pub files: Vec<String>,
    /// Optional files the repository does not have.
    pub skipped: Vec<String>,
}

/// A hub client. `&self` methods; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct HubClient {
    config: HubConfig,
    downloader: Downloader,
}

const MAX_RELATIVE_REDIRECTS: usize = 5;

impl HubClient {
    /// A client for `config`.
    pub fn new(config: HubConfig, downloader: Downloader) -> Self {
        Self { config, downloader }
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{path}`.
    pub fn file_url(&self, repo: &str, revision: &str, path: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{path}", self.config.endpoint.trim_end_matches('/'))
    }

    fn auth(&self) -> Option<String> {
        self.config.token.as_ref().map(|token| format!("Bearer {token}"))
    }

    /// The sha256 and size the hub announces for a file; `NotFound` when it has no such file.
    pub fn file_info(&self, repo: &str, revision: &str, path: &str) -> Result<HubFileInfo, FetchError> {
        let auth = self.auth();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let mut url = self.file_url(repo, revision, path);
        for _ in 0..=MAX_RELATIVE_REDIRECTS {
            let head = self.downloader.head(&url, &headers)?;
            let linked_sha = head.header("x-linked-etag").and_then(parse_sha256_etag);
            let linked_size = head.header("x-linked-size").and_then(|s| s.trim().parse().ok());
            match head.status {
                200..=299 => {
                    return Ok(HubFileInfo {
                        sha256: linked_sha.or_else(|| head.header("etag").and_then(parse_sha256_etag)),
                        size: linked_size.or_else(|| head.header("content-length").and_then(|s| s.trim().parse().ok())),
                    });
                }
                300..=399 => {
                    if linked_sha.is_some() || linked_size.is_some() {
                        return Ok(HubFileInfo { sha256: linked_sha, size: linked_size });
                    }
                    // A relative redirect (a renamed repository) stays on the hub: follow it.
                    match head.header("location") {
                        Some(location) if location.starts_with('/') => {
                            url = join_url(&url, location)?;
                        }
                        _ => return Ok(HubFileInfo::default()),
                    }
                }
                404 => return Err(FetchError::NotFound { url }),
                // Some mirrors do not answer HEAD: the GET will tell.
                405 | 501 => return Ok(HubFileInfo::default()),
                status => return Err(crate::download::status_error(&url, status)),
            }
        }
        Ok(HubFileInfo::default())
    }

    /// Downloads one file of a repository to `dest`, checked against what the hub announces.
    pub fn download_file(&self, repo: &str, revision: &str, path: &str, dest: &Path) -> Result<Downloaded, FetchError> {
        let info = self.file_info(repo, revision, path)?;
        self.download_checked(repo, revision, path, &info, dest)
    }

    fn download_checked(
        &self,
        repo: &str,
        revision: &str,
        path: &str,
        info: &HubFileInfo,
        dest: &Path,
    ) -> Result<Downloaded, FetchError> {
        let expected = Expected { sha256: info.sha256.clone(), size: info.size };
        let auth = self.auth();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        self.downloader.download_with_headers(&self.file_url(repo, revision, path), &headers, dest, &expected)
    }

    /// Fetches a model into `model_dir`: the support files (required ones must exist, optional
    /// ones the repository lacks are skipped), then for each of `onnx_files` (paths inside the
    /// repository, e.g. `onnx/model.onnx`) its external data `<file>_data` when the repository
    /// has it, then the file itself.
    pub fn fetch_model(
        &self,
        model: &ModelSpec,
        support: &SupportFiles,
        onnx_files: &[impl AsRef<str>],
        model_dir: &Path,
    ) -> Result<HubFetch, FetchError> {
        let (repo, revision) = (model.hub_repo.as_str(), model.revision.as_str());
        let mut plan: Vec<(String, bool)> = Vec::new();
        plan.extend(support.required.iter().map(|f| (f.clone(), true)));
        plan.extend(support.optional.iter().map(|f| (f.clone(), false)));
        for onnx in onnx_files {
            plan.push((format!("{}_data", onnx.as_ref()), false));
            plan.push((onnx.as_ref().to_string(), true));
        }
        // Ask about every file first: a missing required file fails before anything is written.
        let mut infos: Vec<(String, HubFileInfo)> = Vec::new();
        let mut result = HubFetch::default();
        for (path, required) in plan {
            match self.file_info(repo, revision, &path) {
                Ok(info) => infos.push((path, info)),
                Err(FetchError::NotFound { url }) if required => {
                    return Err(FetchError::HubFileMissing {
                        repo: repo.to_string(),
                        revision: revision.to_string(),
                        path,
                        url,
                    });
                }
                Err(FetchError::NotFound { .. }) => result.skipped.push(path),
                Err(err) => return Err(err),
            }
        }
        for (path, info) in &infos {
            let dest = model_dir.join(path);
            match self.download_checked(repo, revision, path, info, &dest) {
                Ok(done) => {
                    if done.reused {
                        self.downloader.note(format!("up to date: {}", dest.display()));
                    }
                    result.files.push(path.clone());
                }
                Err(FetchError::NotFound { url }) => {
                    return Err(FetchError::HubFileMissing {
                        repo: repo.to_string(),
                        revision: revision.to_string(),
                        path: path.clone(),
                        url,
                    });
                }
                Err(err) => return Err(err),
            }
        }
        Ok(result)
    }
}

/// The sha256 in an `ETag`/`X-Linked-Etag` value (`"<hex>"`, maybe weak), if it is one.
fn parse_sha256_etag(value: &str) -> Option<String> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let value = value.trim_matches('"');
    (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())).then(|| value.to_ascii_lowercase())
}

fn join_url(base: &str, location: &str) -> Result<String, FetchError> {
    let base =
        url::Url::parse(base).map_err(|err| FetchError::InvalidUrl { url: base.to_string(), source: Box::new(err) })?;
    base.join(location)
        .map(String::from)
        .map_err(|err| FetchError::InvalidUrl { url: location.to_string(), source: Box::new(err) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sha256_etags_only() {
        let sha = "a".repeat(64);
        assert_eq!(parse_sha256_etag(&format!("\"{sha}\"")), Some(sha.clone()));
        assert_eq!(parse_sha256_etag(&format!("W/\"{}\"", sha.to_uppercase())), Some(sha));
        assert_eq!(parse_sha256_etag("\"0123456789abcdef0123456789abcdef01234567\""), None);
    }

    #[test]
    fn builds_resolve_urls_and_hides_the_token() {
        let config = HubConfig::new(Some("http://127.0.0.1:9/"), Some("secret"));
        let client = HubClient::new(config.clone(), Downloader::new(&crate::FetchConfig::default()));
        assert_eq!(
            client.file_url("org/repo", "abc", "onnx/model.onnx"),
            "http://127.0.0.1:9/org/repo/resolve/abc/onnx/model.onnx"
        );
        assert!(!format!("{config:?}").contains("secret"));
        assert_eq!(HubConfig::new(Some(""), Some("")).endpoint, DEFAULT_HF_ENDPOINT);
    }
}
