//! Stand-ins for the Hugging Face hub, PyPI's JSON API and a file host, on 127.0.0.1, for the
//! tests of `embed-fetch` and of the `embed` binary. The real services cannot be reached from
//! a test, so this is a mock, but a real HTTP/1.1 server on a real socket that real clients
//! (ureq in the library, the `embed` binary in its own process) talk to.
//!
//! * Hub files: `/{repo}/resolve/{revision}/{path}`. A file kept in git answers with its git
//!   blob hash in `ETag`; an LFS file redirects to `/cdn/...` with its sha256 in `X-Linked-Etag`
//!   (and `ETag`) and its size in `X-Linked-Size`, as the real hub does ([`Served::git`],
//!   [`Served::lfs`]). The `/cdn/...` storage is another origin (a second port of 127.0.0.1),
//!   as the real hub's storage is another host: clients that keep their token, or stop
//!   following redirects, at the hub's origin treat it as they treat the real one.
//! * Hub repositories ([`Server::serve_hub_repo`], in the `hub` module): commits, branches and
//!   tags, `X-Repo-Commit` on every resolve answer, the model API (`/api/models/{repo}`,
//!   `.../revision/{revision}`, `.../tree/{revision}`), gated repositories
//!   ([`Server::gate_hub_repo`]) and the hub's errors (`X-Error-Code`: `RepoNotFound`,
//!   `RevisionNotFound`, `EntryNotFound`, `GatedRepo`), enough for embed's hub client and for
//!   `huggingface_hub`'s `hf_hub_download` and `snapshot_download`. No Xet headers are sent, so
//!   clients download over plain HTTP. `examples/hub.rs` serves a folder as a repository from
//!   its own process, for tests in other languages.
//! * PyPI: `/pypi/{package}/json` with relative file URLs ([`Server::publish`]).
//! * Faults a test asks for: a tampered body ([`Server::tamper_hub_file`]), a missing `ETag`,
//!   `405` to `HEAD` (some mirrors), a body cut short, and a body that stalls halfway until the
//!   test releases it, so a test can kill a client mid-download at a moment it knows
//!   ([`Server::wait_for_stall`]).
//!
//! Every request is recorded ([`Server::seen`]). This crate must not know embed's crates.

#![allow(clippy::unwrap_used, reason = "test support: a poisoned lock or a failed bind is a failed test")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sha1::Sha1;
use sha2::{Digest, Sha256};

mod hub;

/// A file the server serves, and how.
#[derive(Clone, Default)]
pub struct Served {
    /// The bytes.
    pub body: Vec<u8>,
    /// `ETag` sent with the file (quoted by the server); for a hub file kept in git, its git
    /// blob hash.
    pub etag: Option<String>,
    /// LFS: redirect to `/cdn/<path>` with `X-Linked-Etag`/`X-Linked-Size`.
    pub lfs: bool,
    /// Overrides the sha256 announced in `X-Linked-Etag`.
    pub announced_sha256: Option<String>,
    /// Answer `HEAD` with 405, as some mirrors do.
    pub refuse_head: bool,
    /// The next this many body responses stop after half the body and close the connection.
    pub cut_short: usize,
    /// The next this many body responses send half the body, then wait until
    /// [`Server::release_stalled`] before sending the rest.
    pub stall: usize,
}

impl Served {
    /// A hub file kept in git: its `ETag` is its git blob hash.
    pub fn git(body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        Self { etag: Some(git_blob_sha1(&body)), body, ..Self::default() }
    }

    /// A hub file kept in LFS: redirected to storage, with its sha256 and size announced.
    pub fn lfs(body: impl Into<Vec<u8>>) -> Self {
        Self { body: body.into(), lfs: true, ..Self::default() }
    }

    /// A plain file (PyPI's files, a file host): no hash headers.
    pub fn plain(body: impl Into<Vec<u8>>) -> Self {
        Self { body: body.into(), ..Self::default() }
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The request target.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: HashMap<String, String>,
}

/// A file as stored: the body shared, not copied, by the requests that serve it.
struct Stored {
    served: Arc<Served>,
    body: Arc<[u8]>,
    cut_short_left: usize,
    stall_left: usize,
}

#[derive(Default)]
struct State {
    /// The storage's origin, `http://127.0.0.1:<another port>`, where LFS files redirect.
    cdn: String,
    files: Mutex<HashMap<String, Stored>>,
    /// Hub repositories by `org/name`.
    hub: Mutex<HashMap<String, hub::Repo>>,
    seen: Mutex<Vec<Seen>>,
    /// Paths whose body stalled, in order, and whether stalled bodies may go on.
    stalls: Mutex<(Vec<String>, bool)>,
    stall_changed: Condvar,
}

/// The server: one thread accepting, one per connection.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<State>,
}

/// How long [`Server::wait_for_stall`] waits before failing the test.
const STALL_WAIT: Duration = Duration::from_secs(120);

impl Server {
    /// Starts a server on a free port of 127.0.0.1, and its LFS storage on another.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let storage = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State { cdn: format!("http://{}", storage.local_addr().unwrap()), ..State::default() });
        for listener in [listener, storage] {
            let shared = Arc::clone(&state);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&shared);
                    std::thread::spawn(move || handle(stream, &state));
                }
            });
        }
        Server { base, state }
    }

    /// Serves `served` at `path` (replacing what was there).
    pub fn serve(&self, path: &str, served: Served) {
        let stored = Stored {
            body: Arc::from(served.body.as_slice()),
            cut_short_left: served.cut_short,
            stall_left: served.stall,
            served: Arc::new(Served { body: Vec::new(), ..served }),
        };
        self.state.files.lock().unwrap().insert(path.to_string(), stored);
    }

    /// Stops serving `path` (a 404 from now on).
    pub fn remove(&self, path: &str) {
        self.state.files.lock().unwrap().remove(path);
    }

    /// Serves a hub file: `/{repo}/resolve/{revision}/{path}`. For a repository served with
    /// [`Server::serve_hub_repo`], `revision` must be the commit: this replaces how that
    /// commit's file is served (to give it a fault), not what the repository lists.
    pub fn serve_hub_file(&self, repo: &str, revision: &str, path: &str, served: Served) {
        self.serve(&hub::file_key(repo, revision, path), served);
    }

    /// Publishes `wheel` as the only file of `package` `version` on the stand-in PyPI
    /// (`{base}/pypi`), at a relative URL in the project JSON, with its sha256 and size; no
    /// per-version JSON, as some indexes do.
    pub fn publish(&self, package: &str, version: &str, filename: &str, wheel: &[u8]) {
        let json = format!(
            r#"{{"info":{{"name":"{package}"}},"releases":{{"{version}":[{{"filename":"{filename}","url":"../../packages/ab/{filename}","digests":{{"sha256":"{}"}},"size":{}}}]}}}}"#,
            sha256(wheel),
            wheel.len()
        );
        self.serve(&format!("/pypi/{package}/json"), Served::plain(json));
        self.serve(&format!("/packages/ab/{filename}"), Served::plain(wheel));
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The `GET` requests received so far for paths that end with `suffix`.
    pub fn gets(&self, suffix: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.method == "GET" && s.path.ends_with(suffix)).collect()
    }

    /// Waits until the `count`-th stalled body has sent its first half (bytes flushed to the
    /// socket) and returns its path; panics after two minutes.
    pub fn wait_for_stall(&self, count: usize) -> String {
        let stalls = self.state.stalls.lock().unwrap();
        let (stalls, timeout) =
            self.state.stall_changed.wait_timeout_while(stalls, STALL_WAIT, |(paths, _)| paths.len() < count).unwrap();
        assert!(!timeout.timed_out(), "no stalled body after {STALL_WAIT:?}");
        stalls.0[count - 1].clone()
    }

    /// Lets every stalled body, and any that stalls later, send the rest.
    pub fn release_stalled(&self) {
        self.state.stalls.lock().unwrap().1 = true;
        self.state.stall_changed.notify_all();
    }
}

/// A commit id made from a seed: 40 lowercase hex digits, the same for the same seed.
pub fn commit_id(seed: &str) -> String {
    hex::encode(Sha1::digest(seed.as_bytes()))
}

/// sha256, lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// git's blob hash (sha1 of `blob <len>\0` and the data), lowercase hex: what the hub
/// announces in `ETag` for a file kept in git.
pub fn git_blob_sha1(data: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", data.len()).as_bytes());
    hasher.update(data);
    hex::encode(hasher.finalize())
}

/// A zip archive (a wheel) holding `files` (name, bytes), stored uncompressed.
pub fn make_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(files.iter().any(|(_, data)| data.len() >= u32::MAX as usize));
    for (name, data) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn handle(mut stream: TcpStream, state: &State) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    state.seen.lock().unwrap().push(Seen { method: method.clone(), path: path.clone(), headers: headers.clone() });

    let head = method == "HEAD";
    let (key, via_cdn, mut extra) = match path.strip_prefix("/cdn") {
        Some(rest) => (rest.to_string(), true, Vec::new()),
        None => match hub::route(state, &path, &headers) {
            Some(hub::Route::Answer(answer)) => {
                respond(&mut stream, answer.status, &answer.headers, &answer.body, head);
                return;
            }
            Some(hub::Route::File { key, headers }) => (key, false, headers),
            None => (path.clone(), false, Vec::new()),
        },
    };
    let found = state.files.lock().unwrap().get(&key).map(|f| (Arc::clone(&f.served), Arc::clone(&f.body)));
    let Some((served, body)) = found else {
        respond(&mut stream, "404 Not Found", &[], b"", head);
        return;
    };
    if head && served.refuse_head {
        respond(&mut stream, "405 Method Not Allowed", &[], b"", head);
        return;
    }
    extra.push(("Accept-Ranges".to_string(), "bytes".to_string()));
    if served.lfs && !via_cdn {
        let linked = format!("\"{}\"", served.announced_sha256.clone().unwrap_or_else(|| sha256(&body)));
        extra.extend([
            ("Location".to_string(), format!("{}/cdn{key}", state.cdn)),
            ("ETag".to_string(), linked.clone()),
            ("X-Linked-Etag".to_string(), linked),
            ("X-Linked-Size".to_string(), body.len().to_string()),
        ]);
        respond(&mut stream, "302 Found", &extra, b"", head);
        return;
    }
    if let Some(etag) = &served.etag {
        extra.push(("ETag".to_string(), format!("\"{etag}\"")));
    }
    let total = body.len();
    // `Range: bytes=<start>-[<end>]`; any other range, or one past the end, is answered whole.
    let range = headers.get("range").and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.split_once('-')).and_then(
        |(start, end)| {
            let start = start.parse::<usize>().ok().filter(|start| *start < total)?;
            let end = match end {
                "" => total - 1,
                end => end.parse::<usize>().ok()?.min(total - 1),
            };
            (start <= end).then_some((start, end))
        },
    );
    let (status, body) = match range {
        Some((start, end)) => {
            extra.push(("Content-Range".to_string(), format!("bytes {start}-{end}/{total}")));
            ("206 Partial Content", &body[start..=end])
        }
        None => ("200 OK", &body[..]),
    };
    if head {
        respond(&mut stream, status, &extra, body, head);
        return;
    }
    let (cut_short, stall) = {
        let mut files = state.files.lock().unwrap();
        let Some(stored) = files.get_mut(&key) else { return };
        let cut_short = stored.cut_short_left > 0;
        stored.cut_short_left -= usize::from(cut_short);
        let stall = !cut_short && stored.stall_left > 0;
        stored.stall_left -= usize::from(stall);
        (cut_short, stall)
    };
    if cut_short || stall {
        let _ = stream.write_all(status_and_headers(status, &extra, body.len()).as_bytes());
        let _ = stream.write_all(&body[..body.len() / 2]);
        let _ = stream.flush();
        if cut_short {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut stalls = state.stalls.lock().unwrap();
        stalls.0.push(path.clone());
        state.stall_changed.notify_all();
        drop(state.stall_changed.wait_while(stalls, |(_, released)| !*released).unwrap());
        // The client may be gone (killed): then this write fails, and that is all.
        let _ = stream.write_all(&body[body.len() / 2..]);
        let _ = stream.flush();
        return;
    }
    respond(&mut stream, status, &extra, body, head);
}

fn status_and_headers(status: &str, extra: &[(String, String)], length: usize) -> String {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

fn respond(stream: &mut TcpStream, status: &str, extra: &[(String, String)], body: &[u8], head: bool) {
    let _ = stream.write_all(status_and_headers(status, extra, body.len()).as_bytes());
    if !head {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_hashes_are_gits() {
        // `printf test | git hash-object --stdin`
        assert_eq!(git_blob_sha1(b"test"), "30d74d258442c7c65512eafab474568dd706c430");
    }
}
