//! The download primitive: stream an HTTP(S) URL to a file, checked while it streams.
//!
//! A download takes the target's lock in the cache ([`CacheLock`]), goes to `<dest>.part`, is
//! hashed (sha256) as it arrives, is checked against the expected sha256 (or git blob sha1) and
//! size, and only then is renamed to `dest`, so a file under its final name is always whole. A
//! process that finds the lock taken waits, then uses the file the holder fetched. A `.part`
//! left by an interrupted download (or a holder that was killed) is re-hashed and resumed with
//! an HTTP `Range` request when the server allows it; only the lock's holder touches it.
//! Progress goes to stderr. This file must not know what is downloaded (wheels, models) or
//! where from.

use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::FetchError;
use crate::lock::CacheLock;

/// What a download must turn out to be. Empty means "anything the server sends".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expected {
    /// sha256 of the whole file, lowercase hex.
    pub sha256: Option<String>,
    /// git's blob hash of the whole file (sha1 of `blob <size>\0` and the content), lowercase
    /// hex: what the Hugging Face hub announces for files it keeps in git rather than LFS.
    pub git_blob_sha1: Option<String>,
    /// Size of the whole file in bytes.
    pub size: Option<u64>,
}

impl Expected {
    /// Nothing is known in advance.
    pub fn none() -> Self {
        Self::default()
    }

    /// The file must have this sha256 (hex, any case).
    pub fn sha256(sha256: impl Into<String>) -> Self {
        Self { sha256: Some(sha256.into().to_ascii_lowercase()), ..Self::default() }
    }

    /// The file must also have this size.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// The file must also have this sha256 (hex, any case).
    pub fn with_sha256(mut self, sha256: impl Into<String>) -> Self {
        self.sha256 = Some(sha256.into().to_ascii_lowercase());
        self
    }

    /// The file must have this git blob hash (hex, any case).
    pub fn git_blob_sha1(sha1: impl Into<String>) -> Self {
        Self { git_blob_sha1: Some(sha1.into().to_ascii_lowercase()), ..Self::default() }
    }

    /// Whether a hash is known, so the file can be verified (a size alone does not verify it).
    pub fn has_hash(&self) -> bool {
        self.sha256.is_some() || self.git_blob_sha1.is_some()
    }
}

/// What a download does when neither the caller nor the server's answer gives a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unhashed {
    /// Take the file as it comes.
    Accept,
    /// Fail with [`FetchError::Unverifiable`].
    Refuse,
}

/// One download, as [`Downloader::fetch`] takes it.
pub(crate) struct Request<'a> {
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub dest: &'a Path,
    /// What the file must be, as known before asking for it.
    pub expected: Expected,
    /// Where `expected` has no hash: reads one from the headers of the `GET` answer (a hub
    /// mirror that does not answer `HEAD` still sends its hashes with the file).
    pub hash_from_answer: Option<&'a dyn Fn(&Head) -> Expected>,
    /// What to do when no hash is known even then.
    pub unhashed: Unhashed,
    /// The file's name in messages (a path in a repository, a wheel's name).
    pub label: &'a str,
}

/// Settings of a [`Downloader`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchConfig {
    /// No progress bars and no status lines on stderr.
    pub quiet: bool,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Limit for one read while the body streams (a stalled server fails instead of hanging).
    pub read_timeout: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            quiet: false,
            user_agent: concat!("embed-fetch/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
        }
    }
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// Where the file is.
    pub path: PathBuf,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// True when the file was already there with the expected sha256 and nothing was fetched.
    pub reused: bool,
}

/// The status and headers of an answer: a `HEAD` request's (made without following
/// redirects), or a `GET` request's before its body is read.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn of<B>(response: &ureq::http::Response<B>) -> Self {
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
            .collect();
        Self { status: response.status().as_u16(), headers }
    }

    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Downloads files over HTTP(S). Cheap to share: `&self` methods, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Downloader {
    agent: ureq::Agent,
    head_agent: ureq::Agent,
    quiet: bool,
}

const CHUNK: usize = 256 * 1024;
/// Limit for JSON answers (PyPI's project JSON of a package with many releases is a few MB).
const JSON_LIMIT: u64 = 256 * 1024 * 1024;

impl Downloader {
    /// A downloader with these settings.
    pub fn new(config: &FetchConfig) -> Self {
        let base = || {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(config.user_agent.as_str())
                // Identity encoding: sizes and `Range` offsets are those of the file itself.
                .accept_encoding("")
                .timeout_connect(Some(config.connect_timeout))
                .timeout_recv_response(Some(config.read_timeout))
                .timeout_per_read(Some(config.read_timeout))
                // The operating system's trust store, so a proxy's or company's CA is honoured.
                .tls_config(ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build())
        };
        let agent = base()
            .max_redirects(10)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .build()
            .new_agent();
        let head_agent = base().max_redirects(0).max_redirects_will_error(false).build().new_agent();
        Self { agent, head_agent, quiet: config.quiet }
    }

    /// Whether progress and status lines are suppressed.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Downloads `url` to `dest` (see [`Downloader::download_with_headers`]).
    ///
    /// ```no_run
    /// use embed_fetch::{Downloader, Expected, FetchConfig};
    /// let downloader = Downloader::new(&FetchConfig::default());
    /// let file = downloader.download(
    ///     "https://example.com/file.bin",
    ///     std::path::Path::new("file.bin"),
    ///     &Expected::sha256("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    /// )?;
    /// println!("{} ({} bytes)", file.path.display(), file.size);
    /// # Ok::<(), embed_fetch::FetchError>(())
    /// ```
    pub fn download(&self, url: &str, dest: &Path, expected: &Expected) -> Result<Downloaded, FetchError> {
        self.download_with_headers(url, &[], dest, expected)
    }

    /// Downloads `url` to `dest`, sending extra request headers.
    ///
    /// When `dest` already holds a file with the expected hash nothing is fetched. Otherwise
    /// the download takes `dest`'s lock in the cache (waiting, with a line on stderr, while
    /// another process holds it, and then using what that process fetched), the body streams
    /// to `<dest>.part` (resumed with a `Range` request when one is there), is checked against
    /// `expected`, and is renamed to `dest`. A body cut short keeps its `.part` for the next
    /// try; a size or hash mismatch removes it.
    pub fn download_with_headers(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        dest: &Path,
        expected: &Expected,
    ) -> Result<Downloaded, FetchError> {
        let label = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.fetch(&Request {
            url,
            headers,
            dest,
            expected: expected.clone(),
            hash_from_answer: None,
            unhashed: Unhashed::Accept,
            label: &label,
        })
    }

    /// Takes the lock of `target` in the cache; while another process holds it, says so on
    /// stderr (unless quiet) and waits. `what` completes "waiting for another process to finish …".
    pub(crate) fn lock(&self, target: &Path, what: &str) -> Result<CacheLock, FetchError> {
        CacheLock::acquire(target, |lock| {
            self.note(format_args!("waiting for another process to finish {what} (lock {})", lock.display()));
        })
    }

    /// Runs one download (see [`Downloader::download_with_headers`]).
    pub(crate) fn fetch(&self, request: &Request<'_>) -> Result<Downloaded, FetchError> {
        let Request { url, headers, dest, ref expected, label, .. } = *request;
        if let Some(done) = reuse(dest, expected)? {
            return Ok(done);
        }
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(FetchError::io("create", parent))?;
        }
        let _lock = self.lock(dest, &format!("downloading {label}"))?;
        // The process this one waited for may have fetched it.
        if let Some(done) = reuse(dest, expected)? {
            return Ok(done);
        }
        let mut expected = expected.clone();
        let part = part_path(dest);
        let (mut hasher, mut have) = resume_state(&part, &expected)?;

        if expected.has_hash() && expected.size.is_some_and(|size| size == have && have > 0) {
            // A previous run received everything but stopped before the checks.
            return self.finish(url, &part, dest, hasher, have, &expected);
        }

        let mut response = self.get(url, headers, have)?;
        let status = response.status().as_u16();
        if have > 0 && status == 416 {
            // The part does not fit what the server has: start again.
            remove_if_exists(&part)?;
            (hasher, have) = (Sha256::new(), 0);
            response = self.get(url, headers, 0)?;
        }
        if have > 0 && response.status().as_u16() == 206 && content_range_start(&response) != Some(have) {
            // A range we did not ask for: take the whole file instead.
            remove_if_exists(&part)?;
            (hasher, have) = (Sha256::new(), 0);
            response = self.get(url, headers, 0)?;
        }
        let status = response.status().as_u16();
        match status {
            206 if have > 0 => {}
            200..=299 => {
                (hasher, have) = (Sha256::new(), 0);
            }
            404 => {
                return Err(FetchError::NotFound { url: url.to_string() });
            }
            _ => return Err(status_error(url, status)),
        }
        if !expected.has_hash()
            && let Some(from_answer) = request.hash_from_answer
        {
            let announced = from_answer(&Head::of(&response));
            expected.sha256 = announced.sha256;
            expected.git_blob_sha1 = announced.git_blob_sha1;
            if let Some(done) = reuse(dest, &expected)? {
                return Ok(done);
            }
        }
        if !expected.has_hash() && request.unhashed == Unhashed::Refuse {
            return Err(FetchError::Unverifiable { file: label.to_string(), url: url.to_string() });
        }
        let announced = response.body().content_length().map(|len| have + len);
        if let (Some(want), Some(found)) = (expected.size, announced)
            && want != found
        {
            // The server sends a whole file of another size: not something a resume can fix.
            remove_if_exists(&part)?;
            return Err(FetchError::SizeMismatch { url: url.to_string(), expected: want, found });
        }
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(have > 0)
            .truncate(have == 0)
            .open(&part)
            .map_err(FetchError::io("create", &part))?;
        let total = expected.size.or(announced);

        let progress = self.progress_bar(dest, url, total, have);
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    progress.abandon();
                    file.flush().map_err(FetchError::io("write", &part))?;
                    return Err(match total {
                        Some(expected) => {
                            FetchError::CutShort { url: url.to_string(), expected, found: have, source: Some(err) }
                        }
                        None => FetchError::Request { url: url.to_string(), source: Box::new(err) },
                    });
                }
            };
            file.write_all(&buf[..n]).map_err(FetchError::io("write", &part))?;
            hasher.update(&buf[..n]);
            have += n as u64;
            progress.set_position(have);
        }
        file.sync_all().map_err(FetchError::io("write", &part))?;
        drop(file);
        progress.finish_and_clear();
        if let Some(announced) = announced
            && have < announced
        {
            return Err(FetchError::CutShort { url: url.to_string(), expected: announced, found: have, source: None });
        }
        self.finish(url, &part, dest, hasher, have, &expected)
    }

    /// Checks a complete `.part` and renames it to `dest`, or removes it.
    fn finish(
        &self,
        url: &str,
        part: &Path,
        dest: &Path,
        hasher: Sha256,
        size: u64,
        expected: &Expected,
    ) -> Result<Downloaded, FetchError> {
        if let Some(want) = expected.size
            && want != size
        {
            if size < want {
                return Err(FetchError::CutShort { url: url.to_string(), expected: want, found: size, source: None });
            }
            remove_if_exists(part)?;
            return Err(FetchError::SizeMismatch { url: url.to_string(), expected: want, found: size });
        }
        let sha256 = hex::encode(hasher.finalize());
        let mismatch = |algorithm, want: &String, found: String| {
            remove_if_exists(part)?;
            Err(FetchError::HashMismatch { url: url.to_string(), algorithm, expected: want.clone(), found })
        };
        if let Some(want) = &expected.sha256
            && want != &sha256
        {
            return mismatch("sha256", want, sha256);
        }
        if let Some(want) = &expected.git_blob_sha1 {
            // Files the hub keeps in git are small: read them again for the blob hash.
            let found = git_blob_sha1_file(part)?;
            if want != &found {
                return mismatch("git blob sha1", want, found);
            }
        }
        fs::rename(part, dest).map_err(FetchError::io("rename to its final name", part))?;
        Ok(Downloaded { path: dest.to_path_buf(), sha256, size, reused: false })
    }

    fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        from: u64,
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if from > 0 {
            request = request.header("Range", format!("bytes={from}-"));
        }
        request.call().map_err(|err| request_error(url, err))
    }

    /// A `HEAD` request that does not follow redirects.
    pub(crate) fn head(&self, url: &str, headers: &[(&str, &str)]) -> Result<Head, FetchError> {
        let mut request = self.head_agent.head(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.call().map_err(|err| request_error(url, err))?;
        Ok(Head::of(&response))
    }

    /// GETs `url` and parses its JSON body.
    pub(crate) fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let response = self.get(url, &[("Accept", "application/json")], 0)?;
        match response.status().as_u16() {
            200..=299 => {}
            404 => {
                return Err(FetchError::NotFound { url: url.to_string() });
            }
            status => return Err(status_error(url, status)),
        }
        let reader = response.into_body().into_with_config().limit(JSON_LIMIT).reader();
        serde_json::from_reader(std::io::BufReader::new(reader))
            .map_err(|err| FetchError::Json { url: url.to_string(), source: Box::new(err) })
    }

    /// Prints a status line on stderr unless quiet.
    pub(crate) fn note(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    fn progress_bar(&self, dest: &Path, url: &str, total: Option<u64>, start: u64) -> ProgressBar {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let terminal = std::io::stderr().is_terminal();
        if !self.quiet && !terminal {
            let resumed = if start > 0 { format!(" (resuming at {start} bytes)") } else { String::new() };
            eprintln!("downloading {url}{resumed}");
        }
        let target = if self.quiet || !terminal { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let bar = ProgressBar::with_draw_target(total, target);
        let template = if total.is_some() {
            "{msg:30!} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {eta:>4}"
        } else {
            "{msg:30!} {spinner} {bytes:>10} {bytes_per_sec:>12}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(name);
        bar.set_position(start);
        bar
    }
}

/// The sha256 (lowercase hex) and size of a file.
pub fn sha256_file(path: &Path) -> Result<(String, u64), FetchError> {
    let mut hasher = Sha256::new();
    let size = hash_into(path, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), size))
}

fn hash_into(path: &Path, hasher: &mut Sha256) -> Result<u64, FetchError> {
    let mut file = File::open(path).map_err(FetchError::io("read", path))?;
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(FetchError::io("read", path))?;
        if n == 0 {
            return Ok(size);
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}

/// git's blob hash of a file: sha1 of `blob <size>\0` followed by the content, lowercase hex.
pub(crate) fn git_blob_sha1_file(path: &Path) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(FetchError::io("read", path))?;
    let size = file.metadata().map_err(FetchError::io("read", path))?.len();
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {size}\0").as_bytes());
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(FetchError::io("read", path))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// The file at `dest` as a finished download, when it is there with every hash `expected`
/// names (and its size); `None` when it is missing, differs, or no hash is known to check it.
fn reuse(dest: &Path, expected: &Expected) -> Result<Option<Downloaded>, FetchError> {
    if !expected.has_hash() || !dest.is_file() {
        return Ok(None);
    }
    let (sha256, size) = sha256_file(dest)?;
    let same = expected.sha256.as_ref().is_none_or(|want| want == &sha256)
        && expected.size.is_none_or(|want| want == size)
        && match &expected.git_blob_sha1 {
            Some(want) => want == &git_blob_sha1_file(dest)?,
            None => true,
        };
    Ok(same.then(|| Downloaded { path: dest.to_path_buf(), sha256, size, reused: true }))
}

/// `<dest>.part`.
pub(crate) fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// The hasher and size of a `.part` to resume, or a fresh start.
fn resume_state(part: &Path, expected: &Expected) -> Result<(Sha256, u64), FetchError> {
    let mut hasher = Sha256::new();
    let len = match fs::metadata(part) {
        Ok(meta) => meta.len(),
        Err(_) => return Ok((hasher, 0)),
    };
    if len == 0 || expected.size.is_some_and(|size| len > size) {
        remove_if_exists(part)?;
        return Ok((Sha256::new(), 0));
    }
    let have = hash_into(part, &mut hasher)?;
    Ok((hasher, have))
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<(), FetchError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(FetchError::Io { action: "remove", path: path.to_path_buf(), source: err }),
    }
}

/// The first byte of a `Content-Range: bytes <start>-<end>/<total>` answer.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    parse_content_range_start(value)
}

fn parse_content_range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

fn request_error(url: &str, err: ureq::Error) -> FetchError {
    FetchError::Request { url: url.to_string(), source: Box::new(err) }
}

pub(crate) fn status_error(url: &str, status: u16) -> FetchError {
    let hint = match status {
        401 => "; the server wants credentials (an access token)",
        403 => "; access denied (a gated repository needs the token of an account that accepted its terms)",
        429 => "; rate limited, try again later",
        _ => "",
    };
    FetchError::HttpStatus { url: url.to_string(), status, hint: hint.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_path_appends_a_suffix() {
        assert_eq!(part_path(Path::new("a/model.onnx")), Path::new("a/model.onnx.part"));
    }

    #[test]
    fn parses_content_range() {
        assert_eq!(parse_content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(parse_content_range_start("bytes */200"), None);
    }

    #[test]
    fn expected_lowercases_hashes() {
        let expected = Expected::sha256("ABCD").with_size(3);
        assert_eq!(expected.sha256.as_deref(), Some("abcd"));
        assert_eq!(expected.size, Some(3));
    }

    #[test]
    fn hashes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"test").unwrap();
        let (sha, size) = sha256_file(&path).unwrap();
        assert_eq!(sha, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        assert_eq!(size, 4);
        // `printf test | git hash-object --stdin`
        assert_eq!(git_blob_sha1_file(&path).unwrap(), "30d74d258442c7c65512eafab474568dd706c430");
    }
}
