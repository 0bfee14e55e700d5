//! The one error type of `embed-fetch`.
//!
//! Every failure names what it was working on (a URL, a file, a package); causes are kept as
//! sources. This file must not know how downloads are done.

use std::path::PathBuf;

/// A boxed cause from a dependency whose types stay out of this crate's public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors from downloading and unpacking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered 404.
    #[error("not found (http 404): {url}")]
    NotFound {
        /// The URL asked for.
        url: String,
    },
    /// The server answered with another status that is not a success.
    #[error("http status {status} from {url}{hint}")]
    HttpStatus {
        /// The URL asked for.
        url: String,
        /// The status code.
        status: u16,
        /// A hint for the user (may be empty), starting with `; `.
        hint: String,
    },
    /// The request failed before a status came back (DNS, TLS, connection, timeout).
    #[error("request to {url} failed")]
    Request {
        /// The URL asked for.
        url: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Reading the body failed or the body ended before its announced size.
    #[error(
        "download of {url} was cut short: expected {expected} bytes, got {found} (the partial file is kept for a resume)"
    )]
    CutShort {
        /// The URL asked for.
        url: String,
        /// The expected size in bytes.
        expected: u64,
        /// The bytes received.
        found: u64,
        /// The cause, when a read failed.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The body is larger or smaller than expected.
    #[error("size mismatch for {url}: expected {expected} bytes, found {found}")]
    SizeMismatch {
        /// The URL asked for.
        url: String,
        /// The expected size in bytes.
        expected: u64,
        /// The size received.
        found: u64,
    },
    /// The hash of the body is not the expected one; the file was removed.
    #[error("{algorithm} mismatch for {url}: expected {expected}, found {found} (the file was removed)")]
    HashMismatch {
        /// The URL asked for.
        url: String,
        /// `sha256` or `git blob sha1`.
        algorithm: &'static str,
        /// The expected hash (lowercase hex).
        expected: String,
        /// The hash of what arrived.
        found: String,
    },
    /// Nothing says what a file should be: the server announced no hash for it and none is
    /// pinned, so it cannot be verified (a caller may choose to accept unverified files).
    #[error(
        "cannot verify `{file}`: {url} announces no sha256 (X-Linked-Etag) or git blob hash (ETag) for it, and none is pinned"
    )]
    Unverifiable {
        /// The file (its path in the repository).
        file: String,
        /// The URL asked for.
        url: String,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done (`create`, `read`, `rename ... to`).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A URL could not be parsed or joined.
    #[error("invalid url `{url}`")]
    InvalidUrl {
        /// The text that is not a URL.
        url: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A JSON answer could not be read.
    #[error("invalid json from {url}")]
    Json {
        /// The URL asked for.
        url: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A file the model needs is not in the hub repository.
    #[error("`{path}` is not in {repo} at revision {revision} (http 404: {url})")]
    HubFileMissing {
        /// The repository.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The file's path in the repository.
        path: String,
        /// The URL asked for.
        url: String,
    },
    /// The hub has no such repository.
    #[error("the hub has no repository {repo} (http 404: {url})")]
    HubRepoMissing {
        /// The repository.
        repo: String,
        /// The URL asked for.
        url: String,
    },
    /// The repository has no such branch, tag or commit.
    #[error("{repo} has no revision `{revision}` (http 404: {url})")]
    HubRevisionMissing {
        /// The repository.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The URL asked for.
        url: String,
    },
    /// A zip archive (wheel) could not be read.
    #[error("cannot read zip archive {}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// An archive lacks a member that was expected.
    #[error("{} has no member `{member}`", archive.display())]
    MissingMember {
        /// The archive.
        archive: PathBuf,
        /// The member asked for (a file or folder path).
        member: String,
    },
    /// A member name would be written outside the destination folder.
    #[error("{} has an unsafe member name `{member}`", archive.display())]
    UnsafeMember {
        /// The archive.
        archive: PathBuf,
        /// The member's name.
        member: String,
    },
    /// PyPI has no file of this name or kind for the package version.
    #[error("pypi has no {what} for {package} {version}; it has: {}", available.join(", "))]
    NoSuchFile {
        /// What was looked for (a file name, or `wheel for linux-x86_64`).
        what: String,
        /// The package.
        package: String,
        /// The version.
        version: String,
        /// What is there instead (file names, or versions).
        available: Vec<String>,
    },
    /// This host is not one for which ONNX Runtime wheels exist.
    #[error("no onnx runtime wheel is known for this host ({os}-{arch})")]
    UnsupportedHost {
        /// `std::env::consts::OS`.
        os: String,
        /// `std::env::consts::ARCH`.
        arch: String,
    },
    /// A model cannot be fetched from this source.
    #[error("model `{model}`: {reason}")]
    Model {
        /// The model's name.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// The hub has only a checkpoint of a model whose ONNX file was asked for: making the ONNX
    /// file is a conversion, which is the caller's.
    #[error("{repo} at revision {revision} has no {onnx}, only a checkpoint (model.safetensors)")]
    CheckpointOnly {
        /// The hub repository.
        repo: String,
        /// Its pinned revision, shortened.
        revision: String,
        /// The ONNX file asked for.
        onnx: String,
    },
    /// A model of an application's needs could not be fetched.
    #[error("cannot fetch model `{model}`")]
    Need {
        /// The model as it was named.
        model: String,
        /// Why.
        #[source]
        source: Box<FetchError>,
    },
    /// Neither the hub nor PyPI could serve a model's checkpoint.
    #[error("the hub did not serve {model} ({hub}), nor did PyPI")]
    HubThenPypi {
        /// The model.
        model: String,
        /// Why the hub did not.
        hub: Box<FetchError>,
        /// Why PyPI did not.
        #[source]
        source: Box<FetchError>,
    },
}

impl FetchError {
    /// Whether the hub could not serve a file (unreachable, missing, refused), where another
    /// source may stand in; never a file that failed its check, which is the user's to look at.
    pub fn hub_unavailable(&self) -> bool {
        matches!(
            self,
            FetchError::Request { .. }
                | FetchError::NotFound { .. }
                | FetchError::HubFileMissing { .. }
                | FetchError::HubRepoMissing { .. }
                | FetchError::HubRevisionMissing { .. }
                | FetchError::HttpStatus { .. }
        )
    }

    /// Whether this error is a 404 (the thing does not exist at the source).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FetchError::NotFound { .. }
                | FetchError::HubFileMissing { .. }
                | FetchError::HubRepoMissing { .. }
                | FetchError::HubRevisionMissing { .. }
        )
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FetchError {
        let path = path.into();
        move |source| FetchError::Io { action, path, source }
    }
}
