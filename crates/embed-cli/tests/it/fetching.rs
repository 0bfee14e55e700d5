//! The `embed` binary fetching what it lacks, as real processes on an empty cache, from the
//! stand-ins for PyPI and the Hugging Face hub on 127.0.0.1 (`embed-standin`), which serve the
//! workspace's own ONNX Runtime (as an `onnxruntime` wheel) and model files (with the hashes
//! the real hub announces).
//!
//! Processes started together fetch each thing once and all succeed; one killed (SIGKILL)
//! mid-download never blocks the next, which says it waits, then resumes the download. The
//! tests synchronize on what can be observed (a body stalled by the server, a file's size, a
//! line on stderr), never on sleeps.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use embed_standin::{Served, Server, make_zip};

use super::{stderr, stdout, workspace_root};

const MODEL: &str = "all-MiniLM-L6-v2";

/// How long a test waits for something it knows will happen before it fails.
const PATIENCE: Duration = Duration::from_secs(180);

/// A scratch directory with a copy of the binary (away from the workspace's `libs/`), an empty
/// cache, an empty model cache, and the stand-ins serving ONNX Runtime and the model.
struct World {
    server: Server,
    dir: tempfile::TempDir,
    exe: PathBuf,
    wheel: String,
    wheel_bytes: Vec<u8>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("bin").join("embed");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_embed"), &exe).unwrap();
        let server = Server::start();
        let (wheel, wheel_bytes) = onnxruntime_wheel();
        server.publish("onnxruntime", embed_fetch::DEFAULT_ORT_VERSION, &wheel, &wheel_bytes);
        serve_model(&server);
        World { server, dir, exe, wheel, wheel_bytes }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// `embed <args>` on this world's caches and stand-ins.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .current_dir(self.dir.path())
            .args(args)
            .env("EMBED_CACHE_DIR", self.cache())
            .env("MODEL_CACHE_DIR", self.dir.path().join("models"))
            .env("EMBED_PYPI_URL", format!("{}/pypi", self.server.base))
            .env("HF_ENDPOINT", &self.server.base)
            .env_remove("HF_TOKEN")
            .env_remove("ONNXRUNTIME_LIB_PATH")
            .env_remove("ORT_DYLIB_PATH")
            .env_remove("EMBED_OFFLINE")
            .env_remove("EMBED_ALLOW_UNVERIFIED")
            .env_remove("DEFAULT_MODEL")
            .env_remove("LOG_LEVEL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn wheel_part(&self) -> PathBuf {
        self.cache().join("downloads").join(format!("{}.part", self.wheel))
    }
}

/// An `onnxruntime` wheel for this host holding the workspace's ONNX Runtime library files
/// (as `cargo xtask fetch-ort` put them in `libs/`, or beside `ONNXRUNTIME_LIB_PATH`).
fn onnxruntime_wheel() -> (String, Vec<u8>) {
    let library = match std::env::var_os("ONNXRUNTIME_LIB_PATH").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => embed_core::find_in_libs_dir(&workspace_root().join("libs"))
            .expect("ONNX Runtime in libs/ (run `cargo xtask fetch-ort`)"),
    };
    let folder = std::fs::canonicalize(&library).unwrap().parent().unwrap().to_path_buf();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let real_file = entry.path().symlink_metadata().is_ok_and(|m| m.is_file());
        if real_file && name.starts_with("libonnxruntime") && !name.contains("pybind") {
            files.push((format!("onnxruntime/capi/{name}"), std::fs::read(entry.path()).unwrap()));
        }
    }
    let members: Vec<(&str, &[u8])> = files.iter().map(|(name, data)| (name.as_str(), data.as_slice())).collect();
    let tag = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", arch) => format!("manylinux_2_28_{arch}"),
        ("macos", "aarch64") => "macosx_14_0_arm64".to_string(),
        ("macos", arch) => format!("macosx_13_0_{arch}"),
        (os, arch) => panic!("no onnxruntime wheel tag for {os}-{arch}"),
    };
    (format!("onnxruntime-{}-cp312-cp312-{tag}.whl", embed_fetch::DEFAULT_ORT_VERSION), make_zip(&members))
}

/// Serves the model from the local model cache as the hub does: support files kept in git
/// (blob hash in `ETag`), the checkpoint and the ONNX file in LFS (sha256 in `X-Linked-Etag`).
fn serve_model(server: &Server) {
    let models = super::models_dir();
    let manifest = embed_core::Manifest::builtin();
    let spec = manifest.model(MODEL).unwrap();
    let files = manifest.support_files.required.iter().chain(&manifest.support_files.optional);
    for file in files {
        if let Ok(body) = std::fs::read(models.join(MODEL).join(file)) {
            server.serve_hub_file(&spec.hub_repo, &spec.revision, file, Served::git(body));
        }
    }
    for weights in ["onnx/model.onnx", "model.safetensors"] {
        let body = std::fs::read(models.join(MODEL).join(weights)).unwrap();
        server.serve_hub_file(&spec.hub_repo, &spec.revision, weights, Served::lfs(body));
    }
}

fn vectors(output: &Output) -> Vec<Vec<f32>> {
    serde_json::from_str(&stdout(output)).unwrap()
}

/// Lines of a child's stderr as they come, on a channel, and all of them at the end.
fn stderr_lines(child: &mut Child) -> (mpsc::Receiver<String>, std::thread::JoinHandle<String>) {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (rx, reader)
}

/// Waits until `condition` holds, checking every 10 ms; fails the test after [`PATIENCE`].
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Four `embed embed` processes started together with `args`; their outputs and times.
fn four_at_once(world: &World, args: &[&str]) -> Vec<Vec<f32>> {
    let started = Instant::now();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let child = world.command(&[&["embed", "four at once"], args].concat()).spawn().unwrap();
            std::thread::spawn(move || (child.wait_with_output().unwrap(), started.elapsed()))
        })
        .collect();
    let outputs: Vec<(Output, Duration)> = runs.into_iter().map(|run| run.join().unwrap()).collect();

    let first = vectors(&outputs[0].0);
    assert_eq!(first[0].len(), 384);
    for (n, (output, took)) in outputs.iter().enumerate() {
        assert_eq!(vectors(output), first, "process {n} gives the same vector");
        let log = String::from_utf8_lossy(&output.stderr);
        let waited = log.lines().filter(|l| l.starts_with("waiting for another process")).count();
        eprintln!("process {n}: done after {:.1} s, waited {waited} time(s) for another process", took.as_secs_f64());
    }
    first
}

#[test]
fn four_processes_started_together_on_an_empty_cache_fetch_once_and_all_succeed() {
    // The native engine: the checkpoint is downloaded once, ONNX Runtime never.
    let world = World::new();
    assert_eq!(four_at_once(&world, &[])[0].len(), 384);
    let checkpoint = world.server.gets("/model.safetensors");
    assert_eq!(checkpoint.iter().filter(|s| s.path.starts_with("/cdn/")).count(), 1);
    assert!(world.server.gets(&world.wheel).is_empty(), "no ONNX Runtime for the native engine");
    assert!(!world.cache().join("libs").exists());

    // ONNX Runtime: the library and the ONNX file are each downloaded once, the other
    // processes waiting for the download and using it.
    let world = World::new();
    assert_eq!(four_at_once(&world, &["--backend", "onnx"])[0].len(), 384);
    assert_eq!(world.server.gets(&world.wheel).len(), 1);
    assert_eq!(world.server.gets("/onnx/model.onnx").iter().filter(|s| s.path.starts_with("/cdn/")).count(), 1);
    assert!(embed_core::find_in_libs_dir(&world.cache().join("libs")).is_some());
}

#[test]
fn a_process_killed_mid_download_never_blocks_the_next_which_resumes_its_download() {
    let world = World::new();
    // The wheel's body stops halfway until the test lets it go on.
    let wheel_path = format!("/packages/ab/{}", world.wheel);
    world.server.serve(&wheel_path, Served { stall: 1, ..Served::plain(world.wheel_bytes.clone()) });
    let half = (world.wheel_bytes.len() / 2) as u64;

    let mut first = world.command(&["embed", "--backend", "onnx", "killed"]).spawn().unwrap();
    assert_eq!(world.server.wait_for_stall(1), wheel_path);
    let part = world.wheel_part();
    wait_until("the first process to write half the wheel", || std::fs::metadata(&part).is_ok_and(|m| m.len() == half));

    let mut second = world.command(&["embed", "--backend", "onnx", "killed"]).spawn().unwrap();
    let (lines, second_log) = stderr_lines(&mut second);
    let deadline = Instant::now() + PATIENCE;
    let waiting = loop {
        let line = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let line = line.expect("the second process says it waits for another process");
        if line.starts_with("waiting for another process") {
            break line;
        }
    };
    assert!(waiting.contains(&format!("fetching onnxruntime {}", embed_fetch::DEFAULT_ORT_VERSION)), "{waiting}");

    first.kill().unwrap();
    let status = first.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    world.server.release_stalled();

    let output = second.wait_with_output().unwrap();
    let log = second_log.join().unwrap();
    assert!(output.status.success(), "{log}");
    let vectors: Vec<Vec<f32>> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(vectors[0].len(), 384);
    // The second process resumed the download the killed one had started.
    let gets = world.server.gets(&world.wheel);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[1].headers.get("range"), Some(&format!("bytes={half}-")), "{gets:?}");
    assert!(!part.exists());
    let libs = world.cache().join("libs");
    assert!(embed_core::find_in_libs_dir(&libs).is_some());
    // Only the library's folder and its lock file: the killed process's debris is gone.
    let mut left: Vec<String> =
        std::fs::read_dir(&libs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    let version = embed_fetch::DEFAULT_ORT_VERSION;
    assert_eq!(left, [format!(".onnxruntime-{version}.lock"), format!("onnxruntime-{version}")]);
}

#[test]
fn offline_fetches_nothing_and_says_how_to_get_what_is_missing() {
    let world = World::new();
    let err = stderr(&world.command(&["embed", "--offline", "x"]).output().unwrap());
    assert!(
        err.starts_with("error: cannot load model `all-MiniLM-L6-v2`: model `all-MiniLM-L6-v2:fp32` is not in"),
        "{err}"
    );
    assert!(
        err.contains("\nhint: without --offline (EMBED_OFFLINE, HF_HUB_OFFLINE), embed fetches the model"),
        "{err}"
    );
    // With the model at hand, ONNX Runtime is what is missing.
    let mut command = world.command(&["embed", "--backend", "onnx", "--offline", "x"]);
    let err = stderr(&command.env("MODEL_CACHE_DIR", super::models_dir()).output().unwrap());
    assert!(err.starts_with("error: cannot load model `all-MiniLM-L6-v2`: loading model"), "{err}");
    assert!(err.contains("ONNX Runtime library not found"), "{err}");
    assert!(err.contains("\nhint: point ONNXRUNTIME_LIB_PATH"), "{err}");
    assert!(!err.contains("xtask"), "{err}");
    assert!(world.server.seen().is_empty(), "offline, nothing was asked");
    assert!(!world.cache().join("libs").exists());
}

#[test]
fn a_model_missing_from_the_cache_is_fetched_from_the_hub_and_verified() {
    let world = World::new();
    let fetched = world.command(&["embed", "fetched from the hub"]).output().unwrap();
    let log = String::from_utf8_lossy(&fetched.stderr).to_string();
    assert!(log.contains(&format!("{MODEL}: fetched into")), "{log}");
    let from_hub = vectors(&fetched);
    let local = vectors(&super::embed(&["embed", "fetched from the hub"], world.dir.path()));
    assert_eq!(from_hub, local, "the fetched model gives the same vector");

    // The hub names its quantized files differently: it has no file for the variant, only the
    // checkpoint, and the binary says what the user can do.
    let mut command = world.command(&["embed", "--model", "all-MiniLM-L6-v2:int8", "x"]);
    let err = stderr(&command.env("MODEL_CACHE_DIR", world.dir.path().join("other-models")).output().unwrap());
    assert!(err.contains("has no onnx/model_int8.onnx, only a checkpoint (model.safetensors)"), "{err}");
    assert!(err.contains("`cargo xtask fetch-models --model all-MiniLM-L6-v2:int8 --backend onnx`"), "{err}");
}

#[test]
fn a_hub_file_that_fails_its_hash_is_refused_and_one_with_no_hash_needs_the_flag() {
    let world = World::new();
    let manifest = embed_core::Manifest::builtin();
    let spec = manifest.model(MODEL).unwrap();
    let models = world.dir.path().join("models");
    // tokenizer.json arrives changed: its blob hash is not the one announced.
    let announced = embed_standin::git_blob_sha1(b"{}");
    world.server.serve_hub_file(
        &spec.hub_repo,
        &spec.revision,
        "tokenizer.json",
        Served { etag: Some(announced), ..Served::plain(b"{\"changed\": true}".to_vec()) },
    );
    let err = stderr(&world.command(&["embed", "x"]).output().unwrap());
    assert!(err.contains("git blob sha1 mismatch for"), "{err}");
    assert!(!models.join(MODEL).join("tokenizer.json").exists());

    // config.json with no ETag at all: refused, naming it, unless the user accepts it.
    serve_model(&world.server);
    let config = std::fs::read(super::models_dir().join(MODEL).join("config.json")).unwrap();
    world.server.serve_hub_file(&spec.hub_repo, &spec.revision, "config.json", Served::plain(config));
    let err = stderr(&world.command(&["embed", "x"]).output().unwrap());
    assert!(err.contains("cannot verify `config.json`"), "{err}");
    assert!(err.ends_with("\nhint: pass --allow-unverified (EMBED_ALLOW_UNVERIFIED=1) to accept files the server announces no hash for\n"), "{err}");
    let accepted = world.command(&["embed", "--allow-unverified", "x"]).output().unwrap();
    assert_eq!(vectors(&accepted)[0].len(), 384);
}
