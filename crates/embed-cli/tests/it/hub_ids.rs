//! Models named by their hub id (`org/name[@revision]`), end to end: the `embed` binary fetches
//! them from the stand-in hub on 127.0.0.1 (`embed-standin`, which answers as the real hub
//! does: `X-Repo-Commit`, `ETag`/`X-Linked-Etag`, LFS redirects, 401/403 for a gated
//! repository) into a Hugging Face cache laid out as huggingface_hub lays it out, and runs them
//! with sentence-transformers' own vectors for each architecture fixture. huggingface_hub
//! itself (from `EMBED_CLIENTS_PYTHON`'s venv) reads what embed fetched and fetches what embed
//! then runs with the network off.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use embed_standin::{Server, commit_id};
use embed_test_support::{cosine, fixture_dir, fixture_names};

use super::{stderr, stdout};

/// The fixture files a repository holds (its reference vectors and ONNX export left out, so
/// that the native engine runs the checkpoint).
fn repository_files(fixture: &str) -> Vec<(String, Vec<u8>)> {
    let root = fixture_dir(fixture);
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if relative != "onnx" {
                    pending.push(path);
                }
            } else if relative != "reference.json" {
                files.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The texts and the vectors sentence-transformers gave for them.
fn reference(fixture: &str) -> (Vec<String>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(fixture_dir(fixture).join("reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let texts = serde_json::from_value(reference["texts"].clone()).unwrap();
    let vectors = serde_json::from_value(reference["embeddings"].clone()).unwrap();
    (texts, vectors)
}

/// The width of a fixture's vectors.
fn reference_dimension(fixture: &str) -> u64 {
    reference(fixture).1[0].len() as u64
}

/// A scratch folder, a Hugging Face cache in it, and the stand-in hub.
struct World {
    server: Server,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World { server: Server::start(), dir: tempfile::tempdir().unwrap() }
    }

    fn hub_cache(&self) -> PathBuf {
        self.dir.path().join("hf").join("hub")
    }

    /// `embed <args>` against the stand-in hub and this world's caches (no token, online).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_embed"));
        command
            .current_dir(self.dir.path())
            .args(args)
            .env("HF_ENDPOINT", &self.server.base)
            .env("HF_HOME", self.dir.path().join("hf"))
            .env("EMBED_CACHE_DIR", self.dir.path().join("cache"))
            .env("MODEL_CACHE_DIR", self.dir.path().join("models"))
            .env("EMBED_PYPI_URL", format!("{}/pypi", self.server.base))
            .env("LOG_LEVEL", "warn")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HUGGINGFACE_HUB_CACHE")
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("EMBED_OFFLINE")
            .env_remove("DEFAULT_MODEL")
            .env_remove("EMBED_BACKEND")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The vectors `embed` gives `model` for `texts`, with `extra` arguments.
    fn embed(&self, model: &str, texts: &[String], extra: &[&str]) -> Vec<Vec<f32>> {
        let input = self.dir.path().join("texts.jsonl");
        let lines: String = texts.iter().map(|t| format!("{}\n", serde_json::json!({ "text": t }))).collect();
        std::fs::write(&input, lines).unwrap();
        let mut args = vec!["embed", "--model", model, "--input", input.to_str().unwrap()];
        args.extend(extra);
        serde_json::from_str(&stdout(&self.run(&args))).unwrap()
    }

    fn snapshot(&self, repo: &str, commit: &str) -> PathBuf {
        self.hub_cache().join(format!("models--{}", repo.replace('/', "--"))).join("snapshots").join(commit)
    }
}

fn assert_same_vectors(found: &[Vec<f32>], expected: &[Vec<f32>], what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}");
    for (i, (found, expected)) in found.iter().zip(expected).enumerate() {
        let similarity = cosine(found, expected);
        assert!(similarity > 0.99999, "{what}: text {i}: cosine {similarity}");
    }
}

#[test]
fn each_architecture_is_fetched_by_hub_id_into_the_hugging_face_cache_and_gives_sentence_transformers_vectors() {
    let world = World::new();
    for fixture in fixture_names() {
        let repo = format!("fixtures/{fixture}");
        let commit = commit_id(&fixture);
        world.server.serve_hub_repo(&repo, &commit, &["main"], &repository_files(&fixture));
        let (texts, expected) = reference(&fixture);
        assert_same_vectors(&world.embed(&repo, &texts, &[]), &expected, &fixture);

        // The layout huggingface_hub makes: the branch's commit, links into the blobs.
        let repo_dir = world.hub_cache().join(format!("models--fixtures--{fixture}"));
        assert_eq!(std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(), commit);
        let config = world.snapshot(&repo, &commit).join("config.json");
        let target = std::fs::read_link(&config).unwrap();
        assert!(target.starts_with("../../blobs"), "{}", target.display());
        assert_eq!(std::fs::read(&config).unwrap(), std::fs::read(fixture_dir(&fixture).join("config.json")).unwrap());
        // The native engine runs the checkpoint: no ONNX file was asked for.
        assert!(world.server.gets(".onnx").is_empty(), "{fixture}: an ONNX file was fetched");
    }

    // Everything is there: offline, with the hub gone, each runs again.
    let requests = world.server.seen().len();
    for fixture in fixture_names() {
        let (texts, expected) = reference(&fixture);
        let found = world.embed(&format!("fixtures/{fixture}"), &texts, &["--offline"]);
        assert_same_vectors(&found, &expected, &format!("{fixture}, offline"));
    }
    assert_eq!(world.server.seen().len(), requests, "offline runs asked the hub");

    // `embed models` lists what the cache holds, with the engine that runs it.
    let listing = stdout(&world.run(&["models"]));
    for fixture in fixture_names() {
        assert!(listing.contains(&format!("fixtures/{fixture}  ")), "{listing}");
    }
    assert!(listing.contains("runs on the native engine"), "{listing}");
}

#[test]
fn a_revision_named_by_branch_tag_or_commit_resolves_to_its_commit_and_is_recorded() {
    let world = World::new();
    let repo = "org/moving";
    let (old, new) = (commit_id("old"), commit_id("new"));
    world.server.serve_hub_repo(repo, &old, &["v1.0", "main"], &repository_files("mpnet"));
    world.server.serve_hub_repo(repo, &new, &["main"], &repository_files("bert-cls-dense"));
    let (mpnet_texts, mpnet) = reference("mpnet");
    let (bert_texts, bert) = reference("bert-cls-dense");

    assert_same_vectors(&world.embed(&format!("{repo}@v1.0"), &mpnet_texts, &[]), &mpnet, "the tag");
    assert_same_vectors(&world.embed(repo, &bert_texts, &[]), &bert, "main, moved");
    assert_same_vectors(&world.embed(&format!("{repo}@{old}"), &mpnet_texts, &["--offline"]), &mpnet, "the commit");
    let refs = world.hub_cache().join("models--org--moving/refs");
    assert_eq!(std::fs::read_to_string(refs.join("v1.0")).unwrap(), old);
    assert_eq!(std::fs::read_to_string(refs.join("main")).unwrap(), new);
    assert!(world.snapshot(repo, &old).join("model.safetensors").is_file());

    // `embed fetch` prints where each model is, and fetches nothing already there.
    let requests = world.server.seen().len();
    let out = stdout(&world.run(&["fetch", &format!("{repo}@v1.0"), repo]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], format!("{repo}@v1.0\t{}", world.snapshot(repo, &old).display()));
    assert_eq!(lines[1], format!("{repo}\t{}", world.snapshot(repo, &new).display()));
    assert_eq!(world.server.seen().len(), requests, "fetched again what the cache held");
}

/// `model.safetensors` split into `shards` files and an index naming them, as large models are
/// saved.
fn sharded(files: &[(String, Vec<u8>)], shards: usize) -> Vec<(String, Vec<u8>)> {
    let (_, whole) = files.iter().find(|(name, _)| name == "model.safetensors").unwrap();
    let header_len = usize::try_from(u64::from_le_bytes(whole[..8].try_into().unwrap())).unwrap();
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&whole[8..8 + header_len]).unwrap();
    let data = &whole[8 + header_len..];
    let names: Vec<&String> = header.keys().filter(|name| *name != "__metadata__").collect();
    let mut out: Vec<(String, Vec<u8>)> =
        files.iter().filter(|(name, _)| name != "model.safetensors").cloned().collect();
    let mut weight_map = serde_json::Map::new();
    for shard in 0..shards {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", shard + 1);
        let (mut shard_header, mut shard_data) = (serde_json::Map::new(), Vec::new());
        for name in names.iter().skip(shard).step_by(shards) {
            let mut info = header[*name].clone();
            let offsets: Vec<usize> = serde_json::from_value(info["data_offsets"].clone()).unwrap();
            let start = shard_data.len();
            shard_data.extend_from_slice(&data[offsets[0]..offsets[1]]);
            info["data_offsets"] = serde_json::json!([start, shard_data.len()]);
            shard_header.insert((*name).clone(), info);
            weight_map.insert((*name).clone(), file.clone().into());
        }
        let mut header_bytes = serde_json::to_vec(&shard_header).unwrap();
        header_bytes.resize(header_bytes.len().next_multiple_of(8), b' ');
        let mut bytes = (header_bytes.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header_bytes);
        bytes.extend(shard_data);
        out.push((file, bytes));
    }
    let index = serde_json::json!({ "metadata": { "total_size": data.len() }, "weight_map": weight_map });
    out.push(("model.safetensors.index.json".to_string(), serde_json::to_vec(&index).unwrap()));
    out
}

#[test]
fn a_sharded_checkpoint_is_fetched_with_its_index_and_every_shard() {
    let world = World::new();
    let repo = "org/sharded";
    let commit = commit_id("sharded");
    world.server.serve_hub_repo(repo, &commit, &["main"], &sharded(&repository_files("roberta-bpe"), 3));
    let (texts, expected) = reference("roberta-bpe");
    assert_same_vectors(&world.embed(repo, &texts, &[]), &expected, "sharded");
    let snapshot = world.snapshot(repo, &commit);
    for shard in 1..=3 {
        assert!(snapshot.join(format!("model-{shard:05}-of-00003.safetensors")).is_file());
    }
    assert!(!snapshot.join("model.safetensors").exists());
}

#[test]
fn a_gated_repository_needs_a_token_that_has_access() {
    let world = World::new();
    let repo = "org/gated";
    world.server.serve_hub_repo(repo, &commit_id("gated"), &["main"], &repository_files("mpnet"));
    world.server.gate_hub_repo(repo, "hf_right");

    let without = stderr(&world.run(&["embed", "--model", repo, "text"]));
    assert!(without.contains("401"), "{without}");
    assert!(without.contains("hint: set HF_TOKEN"), "{without}");
    let wrong =
        stderr(&world.command(&["embed", "--model", repo, "text"]).env("HF_TOKEN", "hf_wrong").output().unwrap());
    assert!(wrong.contains("403"), "{wrong}");
    assert!(!wrong.contains("hf_wrong"), "the token was printed: {wrong}");

    let output = world.command(&["embed", "--model", repo, "text"]).env("HF_TOKEN", "hf_right").output().unwrap();
    let vectors: Vec<Vec<f32>> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(vectors.len(), 1);
    let sent = world.server.seen().into_iter().rev().find_map(|seen| seen.headers.get("authorization").cloned());
    assert_eq!(sent.as_deref(), Some("Bearer hf_right"));
    // `embed config` says a token is set, never what it is.
    let config = stdout(&world.command(&["config"]).env("HF_TOKEN", "hf_right").output().unwrap());
    assert!(config.contains("HF_TOKEN") && !config.contains("hf_right"), "{config}");
}

#[test]
fn a_repository_without_modules_json_is_mean_pooled_with_a_warning_as_sentence_transformers_does() {
    let world = World::new();
    let repo = "org/plain-transformers";
    // A mean-pooling, normalizing model, stripped to what transformers saves.
    let files: Vec<(String, Vec<u8>)> = repository_files("bert-uncased-normalized")
        .into_iter()
        .filter(|(name, _)| !name.contains('/') && !name.contains("sentence") && name != "modules.json")
        .collect();
    world.server.serve_hub_repo(repo, &commit_id("plain"), &["main"], &files);
    let (texts, expected) = reference("bert-uncased-normalized");
    let output = world.run(&["embed", "--model", repo, texts[0].as_str()]);
    let found: Vec<Vec<f32>> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_same_vectors(&found, &expected[..1], "mean pooling");
    let warnings = String::from_utf8_lossy(&output.stderr);
    assert!(warnings.contains("no modules.json"), "{warnings}");
}

#[test]
fn a_malformed_hub_id_is_refused_and_nothing_is_asked_or_written() {
    let world = World::new();
    for bad in ["../x", "org/../x", "org/name@../../etc", "a/b/c", "org/na me", "/org/name", "org/name@"] {
        let err = stderr(&world.run(&["embed", "--model", bad, "text"]));
        assert!(err.contains(&format!("unknown model `{bad}`")), "{bad}: {err}");
        assert!(err.contains("not a Hugging Face hub id") || err.contains("not a directory"), "{bad}: {err}");
    }
    assert!(world.server.seen().is_empty(), "{:?}", world.server.seen());
    assert!(!world.dir.path().join("hf").exists(), "the cache was written");
}

#[test]
fn a_tampered_file_is_refused_and_never_linked_into_the_snapshot() {
    let world = World::new();
    let repo = "org/tampered";
    let commit = commit_id("tampered");
    world.server.serve_hub_repo(repo, &commit, &["main"], &repository_files("mpnet"));
    world.server.tamper_hub_file(repo, &commit, "model.safetensors", b"not the weights".to_vec());
    let err = stderr(&world.run(&["embed", "--model", repo, "text"]));
    assert!(err.contains("mismatch"), "{err}");
    assert!(!world.snapshot(repo, &commit).join("model.safetensors").exists());
    let blobs = world.hub_cache().join("models--org--tampered/blobs");
    let kept: Vec<u64> = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    assert!(!kept.contains(&15), "the tampered bytes were kept: {kept:?}");
}

/// The Python with huggingface_hub (`EMBED_CLIENTS_PYTHON`, as `cargo xtask test` sets it).
fn clients_python() -> Option<PathBuf> {
    let python = std::env::var_os("EMBED_CLIENTS_PYTHON").filter(|p| !p.is_empty()).map(PathBuf::from);
    if python.is_none() {
        eprintln!("EMBED_CLIENTS_PYTHON is not set: the huggingface_hub check did not run");
    }
    python
}

fn python(world: &World, python: &Path, script: &str) -> String {
    let output = Command::new(python)
        .args(["-c", script])
        .env("HF_ENDPOINT", &world.server.base)
        .env("HF_HUB_CACHE", world.hub_cache())
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_XET", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn huggingface_hub_and_embed_each_use_what_the_other_fetched() {
    let Some(interpreter) = clients_python() else { return };
    let world = World::new();
    let (texts, expected) = reference("mpnet");

    // huggingface_hub fetches a repository (as sentence-transformers would); embed runs it
    // with the network off and the hub unreachable.
    let by_python = "org/by-huggingface-hub";
    world.server.serve_hub_repo(by_python, &commit_id("python"), &["main"], &repository_files("mpnet"));
    let folder = python(
        &world,
        &interpreter,
        &format!("from huggingface_hub import snapshot_download; print(snapshot_download({by_python:?}))"),
    );
    assert_eq!(PathBuf::from(folder.trim()), world.snapshot(by_python, &commit_id("python")));
    let requests = world.server.seen().len();
    let mut offline = world.command(&["embed", "--model", by_python, "--input", "texts.jsonl"]);
    let lines: String = texts.iter().map(|t| format!("{}\n", serde_json::json!({ "text": t }))).collect();
    std::fs::write(world.dir.path().join("texts.jsonl"), lines).unwrap();
    offline.env("HF_HUB_OFFLINE", "1").env("HF_ENDPOINT", "http://127.0.0.1:9");
    let found: Vec<Vec<f32>> = serde_json::from_str(&stdout(&offline.output().unwrap())).unwrap();
    assert_same_vectors(&found, &expected, "a snapshot huggingface_hub fetched");
    assert_eq!(world.server.seen().len(), requests);

    // embed fetches one; huggingface_hub finds it offline, and its cache scan sees no damage.
    let by_embed = "org/by-embed";
    world.server.serve_hub_repo(by_embed, &commit_id("embed"), &["main"], &repository_files("mpnet"));
    stdout(&world.run(&["fetch", by_embed]));
    let script = format!(
        "import os\n\
         os.environ['HF_HUB_OFFLINE'] = '1'\n\
         from huggingface_hub import hf_hub_download, scan_cache_dir\n\
         print(hf_hub_download({by_embed:?}, 'model.safetensors'))\n\
         info = scan_cache_dir()\n\
         assert not info.warnings, info.warnings\n\
         repo = [r for r in info.repos if r.repo_id == {by_embed:?}][0]\n\
         print(sorted(r for rev in repo.revisions for r in rev.refs))"
    );
    let out = python(&world, &interpreter, &script);
    let mut lines = out.lines();
    assert_eq!(
        PathBuf::from(lines.next().unwrap()),
        world.snapshot(by_embed, &commit_id("embed")).join("model.safetensors")
    );
    assert_eq!(lines.next(), Some("['main']"));
}

#[test]
fn the_server_serves_models_named_by_hub_id_and_requests_choose_among_them() {
    let world = World::new();
    for fixture in ["mpnet", "bert-cls-dense"] {
        world.server.serve_hub_repo(
            &format!("org/{fixture}"),
            &commit_id(fixture),
            &["main"],
            &repository_files(fixture),
        );
    }
    let hf_home = world.dir.path().join("hf");
    let served = super::faults::Served::start(
        &["--log-level", "info", "--model", "org/mpnet", "--model", "org/bert-cls-dense"],
        &[("HF_ENDPOINT", world.server.base.as_str()), ("HF_HOME", hf_home.to_str().unwrap())],
    );
    for fixture in ["mpnet", "bert-cls-dense"] {
        let (texts, expected) = reference(fixture);
        // OpenAI's API refuses empty strings: three texts that are not.
        let (texts, expected): (Vec<String>, Vec<Vec<f32>>) =
            texts.into_iter().zip(expected).filter(|(text, _)| !text.is_empty()).take(3).unzip();
        let body = serde_json::json!({ "model": format!("org/{fixture}"), "input": &texts });
        let (status, answer) = super::faults::post(&served.addr, "/v1/embeddings", &body, &[]).unwrap();
        assert_eq!(status, 200, "{answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["model"], format!("org/{fixture}"));
        let found: Vec<Vec<f32>> = answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| serde_json::from_value(d["embedding"].clone()).unwrap())
            .collect();
        assert_same_vectors(&found, &expected, fixture);
    }
    // /v1/models lists the hub models it serves, with their width.
    let (status, listing) =
        super::faults::http(&served.addr, "GET", "/v1/models", &[], b"", std::time::Duration::from_secs(30)).unwrap();
    assert_eq!(status, 200, "{listing}");
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let listed = |id: &str| listing["data"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned();
    let mpnet = listed("org/mpnet").expect("org/mpnet listed");
    assert_eq!(
        (mpnet["default"].as_bool(), mpnet["dimension"].as_u64()),
        (Some(true), Some(reference_dimension("mpnet")))
    );
    assert_eq!(
        listed("org/bert-cls-dense").expect("listed")["dimension"].as_u64(),
        Some(reference_dimension("bert-cls-dense"))
    );
    // A hub id the server does not serve is never fetched on a client's say.
    let requests = world.server.seen().len();
    let body = serde_json::json!({ "model": "org/other", "input": ["text"] });
    let (status, answer) = super::faults::post(&served.addr, "/v1/embeddings", &body, &[]).unwrap();
    assert_eq!(status, 404, "{answer}");
    assert_eq!(world.server.seen().len(), requests);
}

#[test]
fn a_missing_repository_or_revision_is_named_as_such() {
    let world = World::new();
    world.server.serve_hub_repo("org/here", &commit_id("here"), &["main"], &repository_files("mpnet"));
    let err = stderr(&world.run(&["embed", "--model", "org/nowhere", "text"]));
    assert!(err.contains("the hub has no repository org/nowhere"), "{err}");
    let err = stderr(&world.run(&["embed", "--model", "org/here@v9", "text"]));
    assert!(err.contains("org/here has no revision `v9`"), "{err}");
}
