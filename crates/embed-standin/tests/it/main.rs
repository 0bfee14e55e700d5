//! The stand-in hub as a plain HTTP client sees it: branches, tags and commits with
//! `X-Repo-Commit`, LFS redirects to another origin, gated repositories, the hub's `404`s and
//! the model API's JSON. What `huggingface_hub` needs of these is in `src/hub.rs`.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;

use embed_standin::{Server, commit_id, git_blob_sha1, sha256};
use serde_json::{Value, json};

const REPO: &str = "org/tiny";

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// `method url` with `headers`, redirects followed or not.
fn call(method: &str, url: &str, headers: &[(&str, &str)], follow: bool) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(if follow { 5 } else { 0 })
        .max_redirects_will_error(false)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = agent.run(request.body(()).unwrap()).unwrap();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap().to_string()))
        .collect();
    let body = if method == "HEAD" { Vec::new() } else { response.body_mut().read_to_vec().unwrap() };
    Answer { status: response.status().as_u16(), headers, body }
}

fn head(server: &Server, path: &str) -> Answer {
    call("HEAD", &format!("{}{path}", server.base), &[], false)
}

fn get(server: &Server, path: &str) -> Answer {
    call("GET", &format!("{}{path}", server.base), &[], false)
}

fn files(config: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        ("config.json".to_string(), config.as_bytes().to_vec()),
        ("1_Pooling/config.json".to_string(), b"{\"pooling\":\"mean\"}".to_vec()),
        ("model.safetensors".to_string(), vec![7; 4096]),
    ]
}

#[test]
fn branches_tags_and_commits_resolve_with_x_repo_commit() {
    let server = Server::start();
    let (first, second) = (commit_id("first"), commit_id("second"));
    server.serve_hub_repo(REPO, &first, &["main", "v1.0", "refs/pr/1"], &files("{\"v\":1}"));

    for revision in ["main", "v1.0", "refs%2Fpr%2F1", "refs/pr/1", first.as_str()] {
        let answer = get(&server, &format!("/{REPO}/resolve/{revision}/config.json"));
        assert_eq!(answer.status, 200, "{revision}");
        assert_eq!(answer.header("x-repo-commit"), Some(first.as_str()), "{revision}");
        assert_eq!(answer.body, b"{\"v\":1}");
        assert_eq!(answer.header("etag"), Some(format!("\"{}\"", git_blob_sha1(b"{\"v\":1}")).as_str()));
    }
    let nested = head(&server, &format!("/{REPO}/resolve/main/1_Pooling/config.json"));
    assert_eq!((nested.status, nested.header("content-length")), (200, Some("18")));

    // `main` moves to a new commit; the tag and the old commit stay where they were.
    server.serve_hub_repo(REPO, &second, &["main"], &files("{\"v\":2}"));
    let moved = get(&server, &format!("/{REPO}/resolve/main/config.json"));
    assert_eq!((moved.header("x-repo-commit"), moved.body.as_slice()), (Some(second.as_str()), &b"{\"v\":2}"[..]));
    for revision in ["v1.0", first.as_str()] {
        let kept = get(&server, &format!("/{REPO}/resolve/{revision}/config.json"));
        assert_eq!((kept.header("x-repo-commit"), kept.body.as_slice()), (Some(first.as_str()), &b"{\"v\":1}"[..]));
    }
}

#[test]
fn lfs_files_redirect_to_storage_on_another_origin() {
    let server = Server::start();
    let commit = commit_id("lfs");
    server.serve_hub_repo(REPO, &commit, &["main"], &files("{}"));
    let weights = vec![7; 4096];
    let sha = format!("\"{}\"", sha256(&weights));

    let redirect = head(&server, &format!("/{REPO}/resolve/main/model.safetensors"));
    assert_eq!(redirect.status, 302);
    assert_eq!(redirect.header("x-repo-commit"), Some(commit.as_str()));
    assert_eq!(redirect.header("x-linked-etag"), Some(sha.as_str()));
    assert_eq!(redirect.header("etag"), Some(sha.as_str()));
    assert_eq!(redirect.header("x-linked-size"), Some("4096"));
    let location = redirect.header("location").unwrap();
    assert!(location.starts_with("http://127.0.0.1:") && !location.starts_with(&server.base), "{location}");
    assert!(location.ends_with(&format!("/cdn/{REPO}/resolve/{commit}/model.safetensors")), "{location}");

    let body = call("GET", &format!("{}/{REPO}/resolve/main/model.safetensors", server.base), &[], true);
    assert_eq!((body.status, body.body), (200, weights.clone()));
    let tail = call("GET", location, &[("Range", "bytes=4000-")], false);
    assert_eq!((tail.status, tail.header("content-range")), (206, Some("bytes 4000-4095/4096")));
    assert_eq!(tail.body, weights[4000..]);
    let middle = call("GET", location, &[("Range", "bytes=10-19")], false);
    assert_eq!((middle.status, middle.body.len()), (206, 10));
}

#[test]
fn gated_repositories_want_their_token() {
    let server = Server::start();
    let commit = commit_id("gated");
    server.serve_hub_repo(REPO, &commit, &["main"], &files("{}"));
    server.gate_hub_repo(REPO, "hf_right");
    let url = format!("{}/{REPO}/resolve/main/config.json", server.base);

    let anonymous = call("HEAD", &url, &[], false);
    assert_eq!((anonymous.status, anonymous.header("x-error-code")), (401, Some("GatedRepo")));
    let message = "Access to model org/tiny is restricted. You must have access to it and be authenticated to \
                   access it. Please log in.";
    assert_eq!(anonymous.header("x-error-message"), Some(message));
    let anonymous = call("GET", &url, &[], false);
    assert_eq!(anonymous.json(), json!({ "error": message }));

    let stranger = call("GET", &url, &[("Authorization", "Bearer hf_wrong")], false);
    assert_eq!((stranger.status, stranger.header("x-error-code")), (403, Some("GatedRepo")));
    assert!(stranger.header("x-error-message").unwrap().contains("not in the authorized list"));

    let member = call("GET", &url, &[("Authorization", "Bearer hf_right")], false);
    assert_eq!(
        (member.status, member.header("x-repo-commit"), member.body.as_slice()),
        (200, Some(commit.as_str()), &b"{}"[..])
    );
    let lfs = format!("{}/{REPO}/resolve/main/model.safetensors", server.base);
    assert_eq!(call("HEAD", &lfs, &[], false).status, 401);
    assert_eq!(call("HEAD", &lfs, &[("Authorization", "Bearer hf_right")], false).status, 302);

    // The metadata stays public, as on the hub.
    let info = get(&server, &format!("/api/models/{REPO}"));
    assert_eq!((info.status, info.json()["gated"].clone()), (200, json!("manual")));
}

#[test]
fn what_is_missing_is_named_in_x_error_code() {
    let server = Server::start();
    let commit = commit_id("missing");
    server.serve_hub_repo(REPO, &commit, &["main"], &files("{}"));
    let cases = [
        ("/org/absent/resolve/main/config.json".to_string(), "RepoNotFound", "Repository not found".to_string()),
        ("/api/models/org/absent".to_string(), "RepoNotFound", "Repository not found".to_string()),
        (format!("/{REPO}/resolve/nope/config.json"), "RevisionNotFound", "Invalid rev id: nope".to_string()),
        (
            format!("/{REPO}/resolve/refs%2Fpr%2F9/config.json"),
            "RevisionNotFound",
            "Invalid rev id: refs/pr/9".to_string(),
        ),
        (format!("/api/models/{REPO}/revision/v9"), "RevisionNotFound", "Invalid rev id: v9".to_string()),
        (format!("/{REPO}/resolve/main/absent.json"), "EntryNotFound", "Entry not found".to_string()),
        (
            format!("/api/models/{REPO}/tree/main/absent"),
            "EntryNotFound",
            format!("absent does not exist on \"{commit}\""),
        ),
    ];
    for (path, code, message) in cases {
        let answer = get(&server, &path);
        assert_eq!((answer.status, answer.header("x-error-code")), (404, Some(code)), "{path}");
        assert_eq!(answer.header("x-error-message"), Some(message.as_str()), "{path}");
        assert_eq!(answer.json(), json!({ "error": message }), "{path}");
    }
    // A missing file's answer still says which commit the revision is.
    let entry = head(&server, &format!("/{REPO}/resolve/main/absent.json"));
    assert_eq!(entry.header("x-repo-commit"), Some(commit.as_str()));
}

#[test]
fn the_model_api_names_the_commit_and_lists_its_files() {
    let server = Server::start();
    let (first, second) = (commit_id("first"), commit_id("second"));
    server.serve_hub_repo(REPO, &first, &["main", "v1.0"], &files("{}"));
    server.serve_hub_repo(REPO, &second, &["main"], &files("{\"v\":2}")[..2]);

    let info = get(&server, &format!("/api/models/{REPO}")).json();
    assert_eq!(
        info,
        json!({
            "id": REPO, "modelId": REPO, "author": "org", "sha": second, "lastModified": "2024-01-01T00:00:00.000Z",
            "private": false, "gated": false, "disabled": false, "tags": [],
            "siblings": [{"rfilename": "1_Pooling/config.json"}, {"rfilename": "config.json"}],
        })
    );
    for revision in ["v1.0", first.as_str()] {
        let info = get(&server, &format!("/api/models/{REPO}/revision/{revision}?securityStatus=true")).json();
        assert_eq!(info["sha"], json!(first), "{revision}");
        assert_eq!(info["siblings"].as_array().unwrap().len(), 3, "{revision}");
    }

    let weights = vec![7; 4096];
    let pointer = format!("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 4096\n", sha256(&weights));
    let tree = get(&server, &format!("/api/models/{REPO}/tree/v1.0?recursive=True&expand=False")).json();
    let tree = tree.as_array().unwrap();
    let paths: Vec<&str> = tree.iter().map(|entry| entry["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["1_Pooling", "1_Pooling/config.json", "config.json", "model.safetensors"]);
    assert_eq!(tree[0]["type"], json!("directory"));
    assert_eq!(tree[2], json!({"type": "file", "oid": git_blob_sha1(b"{}"), "size": 2, "path": "config.json"}));
    assert_eq!(
        tree[3],
        json!({
            "type": "file", "oid": git_blob_sha1(pointer.as_bytes()), "size": 4096, "path": "model.safetensors",
            "lfs": {"oid": sha256(&weights), "size": 4096, "pointerSize": pointer.len()},
        })
    );
    let top = get(&server, &format!("/api/models/{REPO}/tree/{first}")).json();
    let top: Vec<&str> = top.as_array().unwrap().iter().map(|entry| entry["path"].as_str().unwrap()).collect();
    assert_eq!(top, ["1_Pooling", "config.json", "model.safetensors"]);
    let folder = get(&server, &format!("/api/models/{REPO}/tree/main/1_Pooling")).json();
    assert_eq!(folder.as_array().unwrap().len(), 1);
}

#[test]
fn a_tampered_file_keeps_its_announced_hash() {
    let server = Server::start();
    let commit = commit_id("tampered");
    server.serve_hub_repo(REPO, &commit, &["main"], &files("{}"));
    server.tamper_hub_file(REPO, &commit, "config.json", b"{\"evil\":1}".to_vec());
    server.tamper_hub_file(REPO, &commit, "model.safetensors", vec![6; 4096]);

    let config = get(&server, &format!("/{REPO}/resolve/main/config.json"));
    assert_eq!(config.body, b"{\"evil\":1}");
    assert_eq!(config.header("etag"), Some(format!("\"{}\"", git_blob_sha1(b"{}")).as_str()));
    let redirect = head(&server, &format!("/{REPO}/resolve/main/model.safetensors"));
    assert_eq!(redirect.header("x-linked-etag"), Some(format!("\"{}\"", sha256(&[7; 4096])).as_str()));
    let weights = call("GET", redirect.header("location").unwrap(), &[], false);
    assert_eq!(weights.body, vec![6; 4096]);
}

#[test]
fn commit_ids_are_forty_hex_digits_made_from_the_seed() {
    let id = commit_id("seed");
    assert_eq!(id.len(), 40);
    assert!(id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert_eq!(id, commit_id("seed"));
    assert_ne!(id, commit_id("other seed"));
}
