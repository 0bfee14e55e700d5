//! A small Hugging Face hub client: files at `{endpoint}/{repo}/resolve/{revision}/{path}`.
//!
//! Every file is verified. A `HEAD` request (redirects not followed) gives the file's hash and
//! size: an LFS file's sha256 in `X-Linked-Etag` (and its size in `X-Linked-Size`), a file kept
//! in git its blob hash (sha1 of `blob <size>\0` and the content) in `ETag`. Where a mirror
//! does not answer `HEAD`, the `GET` answer's own headers are read instead. The `GET` then
//! follows redirects and is checked against them; a file with no hash to check is an error
//! ([`FetchError::Unverifiable`]) unless [`HubConfig::allow_unverified`] is set.
//!
//! A model is fetched under the model directory's lock ([`crate::CacheLock`]), support files
//! first, ONNX external data next and the ONNX file last, each through a temporary name, so
//! an interrupted fetch never leaves a model that loads half-written and processes started
//! together fetch it once. This file must not know about PyPI or conversion.

use std::path::Path;

use embed_manifest::{ModelSpec, SupportFiles};

use crate::FetchError;
use crate::download::{Downloaded, Downloader, Expected, Head, Request, Unhashed};

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
    /// Accept a file for which the hub announces no hash (it is then only size-checked). Off
    /// by default: such a file is an error naming it.
    pub allow_unverified: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self { endpoint: DEFAULT_HF_ENDPOINT.to_string(), token: None, allow_unverified: false }
    }
}

impl HubConfig {
    /// A configuration for `endpoint` (empty means the public hub) and an optional token (empty means none).
    pub fn new(endpoint: Option<&str>, token: Option<&str>) -> Self {
        let endpoint = endpoint.map(str::trim).filter(|e| !e.is_empty()).unwrap_or(DEFAULT_HF_ENDPOINT);
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: token.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string),
            allow_unverified: false,
        }
    }
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("allow_unverified", &self.allow_unverified)
            .finish()
    }
}

/// What the hub says about a file before it is downloaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubFileInfo {
    /// sha256 (LFS files).
    pub sha256: Option<String>,
    /// git's blob hash (files kept in git).
    pub git_blob_sha1: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// The commit the revision asked for stands for (`X-Repo-Commit`), where the hub says.
    pub commit: Option<String>,
}

impl HubFileInfo {
    /// The hashes an answer announces: `X-Linked-Etag` (an LFS file's sha256), else `ETag`
    /// (a sha256, or the git blob hash of a file kept in git).
    fn announced(head: &Head) -> Self {
        let linked = head.header("x-linked-etag").and_then(parse_etag);
        let (sha256, git_blob_sha1) = match linked.or_else(|| head.header("etag").and_then(parse_etag)) {
            Some(Hash::Sha256(sha)) => (Some(sha), None),
            Some(Hash::GitBlobSha1(sha)) => (None, Some(sha)),
            None => (None, None),
        };
        Self { sha256, git_blob_sha1, size: None, commit: head.header("x-repo-commit").map(|c| c.trim().to_string()) }
    }

    fn expected(&self) -> Expected {
        Expected { sha256: self.sha256.clone(), git_blob_sha1: self.git_blob_sha1.clone(), size: self.size }
    }
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
    pub(crate) downloader: Downloader,
}

const MAX_RELATIVE_REDIRECTS: usize = 5;

impl HubClient {
    /// A client for `config`.
    pub fn new(config: HubConfig, downloader: Downloader) -> Self {
        Self { config, downloader }
    }

    /// The hub's base URL.
    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{path}`.
    pub fn file_url(&self, repo: &str, revision: &str, path: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{path}", self.config.endpoint.trim_end_matches('/'))
    }

    fn auth(&self) -> Option<String> {
        self.config.token.as_ref().map(|token| format!("Bearer {token}"))
    }

    /// The hash and size the hub announces for a file; `NotFound` when it has no such file.
    pub fn file_info(&self, repo: &str, revision: &str, path: &str) -> Result<HubFileInfo, FetchError> {
        let auth = self.auth();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let mut url = self.file_url(repo, revision, path);
        for _ in 0..=MAX_RELATIVE_REDIRECTS {
            let head = self.downloader.head(&url, &headers)?;
            let linked_size = head.header("x-linked-size").and_then(|s| s.trim().parse().ok());
            match head.status {
                200..=299 => {
                    return Ok(HubFileInfo {
                        size: linked_size.or_else(|| head.header("content-length").and_then(|s| s.trim().parse().ok())),
                        ..HubFileInfo::announced(&head)
                    });
                }
                300..=399 => {
                    // An LFS file: its hash and size come with the redirect to its storage.
                    if head.header("x-linked-etag").is_some() || linked_size.is_some() {
                        let linked = head.header("x-linked-etag").and_then(parse_etag);
                        let sha256 = match linked {
                            Some(Hash::Sha256(sha)) => Some(sha),
                            _ => None,
                        };
                        let commit = head.header("x-repo-commit").map(|c| c.trim().to_string());
                        return Ok(HubFileInfo { sha256, git_blob_sha1: None, size: linked_size, commit });
                    }
                    // A relative redirect (a renamed repository) stays on the hub: follow it.
                    match head.header("location") {
                        Some(location) if location.starts_with('/') => {
                            url = join_url(&url, location)?;
                        }
                        _ => return Ok(HubFileInfo::default()),
                    }
                }
                // The hub says what is missing in `X-Error-Code`: the repository, the revision,
                // or (by default) the file.
                404 => {
                    return Err(match head.header("x-error-code") {
                        Some("RepoNotFound") => FetchError::HubRepoMissing { repo: repo.to_string(), url },
                        Some("RevisionNotFound") => FetchError::HubRevisionMissing {
                            repo: repo.to_string(),
                            revision: revision.to_string(),
                            url,
                        },
                        _ => FetchError::NotFound { url },
                    });
                }
                // Refused: a gated repository, or one that is private or does not exist (the hub
                // answers both alike to a request without a token).
                401 | 403 => {
                    let hint = match (head.header("x-error-code"), self.config.token.is_some()) {
                        (Some("GatedRepo"), false) => {
                            "; a gated repository: it needs the token of an account that accepted its terms on its page"
                        }
                        (Some("GatedRepo"), true) => {
                            "; a gated repository, and the token sent is of an account that has not accepted its terms on its page"
                        }
                        (Some("RepoNotFound"), false) => {
                            "; no such repository, or a private one (which needs a token of an account with access)"
                        }
                        (_, true) => "; the token sent has no access to it",
                        (_, false) => "; the hub wants credentials (an access token)",
                    };
                    return Err(FetchError::HttpStatus { url, status: head.status, hint: hint.to_string() });
                }
                // Some mirrors do not answer HEAD: the GET answer's headers will tell.
                405 | 501 => return Ok(HubFileInfo::default()),
                status => return Err(crate::download::status_error(&url, status)),
            }
        }
        Ok(HubFileInfo::default())
    }

    /// Downloads one file of a repository to `dest`, verified against the hash the hub
    /// announces (see the module documentation).
    pub fn download_file(&self, repo: &str, revision: &str, path: &str, dest: &Path) -> Result<Downloaded, FetchError> {
        let info = self.file_info(repo, revision, path)?;
        self.download_checked(repo, revision, path, &info, dest)
    }

    pub(crate) fn download_checked(
        &self,
        repo: &str,
        revision: &str,
        path: &str,
        info: &HubFileInfo,
        dest: &Path,
    ) -> Result<Downloaded, FetchError> {
        let auth = self.auth();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let announced = |head: &Head| HubFileInfo::announced(head).expected();
        self.downloader.fetch(&Request {
            url: &self.file_url(repo, revision, path),
            headers: &headers,
            dest,
            expected: info.expected(),
            hash_from_answer: Some(&announced),
            unhashed: if self.config.allow_unverified { Unhashed::Accept } else { Unhashed::Refuse },
            label: path,
        })
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
        let _lock =
            self.downloader.lock(model_dir, &format!("fetching {} into {}", model.name, model_dir.display()))?;
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
        let mut up_to_date = 0;
        for (path, info) in &infos {
            let dest = model_dir.join(path);
            match self.download_checked(repo, revision, path, info, &dest) {
                Ok(done) => {
                    up_to_date += usize::from(done.reused);
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
        if up_to_date > 0 {
            self.downloader.note(format!(
                "{}: {up_to_date} of {} files were there already, matching the hub's hashes",
                model_dir.display(),
                infos.len()
            ));
        }
        Ok(result)
    }
}

/// A hash the hub announces.
#[derive(Debug, PartialEq, Eq)]
enum Hash {
    Sha256(String),
    GitBlobSha1(String),
}

/// The hash in an `ETag`/`X-Linked-Etag` value (`"<hex>"`, maybe weak): 64 hex digits are a
/// sha256, 40 a git blob hash; anything else (a storage service's own tag) is no hash.
fn parse_etag(value: &str) -> Option<Hash> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let value = value.trim_matches('"');
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match value.len() {
        64 => Some(Hash::Sha256(value.to_ascii_lowercase())),
        40 => Some(Hash::GitBlobSha1(value.to_ascii_lowercase())),
        _ => None,
    }
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
    fn reads_sha256_and_git_blob_etags() {
        let sha = "a".repeat(64);
        assert_eq!(parse_etag(&format!("\"{sha}\"")), Some(Hash::Sha256(sha.clone())));
        assert_eq!(parse_etag(&format!("W/\"{}\"", sha.to_uppercase())), Some(Hash::Sha256(sha)));
        let git = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(parse_etag(&format!("\"{git}\"")), Some(Hash::GitBlobSha1(git.to_string())));
        // An S3-style tag (an md5, or with a part count) is no hash of the file.
        assert_eq!(parse_etag("\"0123456789abcdef0123456789abcdef\""), None);
        assert_eq!(parse_etag("\"0123456789abcdef0123456789abcdef-3\""), None);
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
