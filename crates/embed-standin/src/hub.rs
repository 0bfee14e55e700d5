//! Hub repositories on top of the served files: commits, branches and tags, the model API,
//! gated access, and the hub's errors as `huggingface_hub` reads them (`X-Error-Code`,
//! `X-Error-Message`, a JSON body `{"error": ...}`).
//!
//! A commit's file is stored at `/{repo}/resolve/{commit}/{path}`; a request naming a branch or
//! tag is answered from there, so a fault given to that path ([`Server::serve_hub_file`]) shows
//! through every name of the commit. Revisions in URLs may be percent-encoded
//! (`refs%2Fpr%2F1`, as `huggingface_hub` sends them) or not (`refs/pr/1`).
//!
//! As on the real hub, a gated repository's metadata (model info, tree) is public; its files
//! need the token. This file must not know how a file's bytes are sent (ranges, faults).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::{Served, Server, State, commit_id, git_blob_sha1, sha256};

/// Files kept in LFS, by how their name ends (what a model repository's `.gitattributes` says).
const LFS_SUFFIXES: [&str; 5] = [".safetensors", ".onnx", ".onnx_data", ".bin", ".pt"];

/// When the model API says a repository was last modified: the stand-in keeps no dates.
const LAST_MODIFIED: &str = "2024-01-01T00:00:00.000Z";

/// A served repository.
#[derive(Default)]
pub(crate) struct Repo {
    /// Each commit's files, sorted by path.
    commits: HashMap<String, Vec<Entry>>,
    /// Branches and tags: name, commit.
    refs: HashMap<String, String>,
    /// For a gated repository, the token its files need.
    token: Option<String>,
}

/// A file of a commit, as git and the hub's tree listing describe it.
struct Entry {
    path: String,
    size: usize,
    /// The blob git keeps: the file's, or an LFS file's pointer's.
    oid: String,
    /// An LFS file's sha256 and its pointer's size.
    lfs: Option<(String, usize)>,
}

/// An answer made whole here: an error, or the model API's JSON.
pub(crate) struct Answer {
    pub(crate) status: &'static str,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// What to do with a request.
pub(crate) enum Route {
    /// Send this.
    Answer(Answer),
    /// Serve the stored file at `key`, with `headers` added.
    File { key: String, headers: Vec<(String, String)> },
}

impl Server {
    /// Serves `files` (path inside the repository, bytes) as repository `repo` (`org/name`) at
    /// `commit` (40 lowercase hex digits, e.g. [`commit_id`]), reachable as
    /// `/{repo}/resolve/{commit}/{path}` and through each name of `refs` (branches or tags:
    /// `main`, `v1.0`, `refs/pr/1`).
    ///
    /// Files whose name ends in `.safetensors`, `.onnx`, `.onnx_data`, `.bin` or `.pt` are kept
    /// in LFS (a redirect to storage with `X-Linked-Etag` = sha256 and `X-Linked-Size`), the
    /// others in git (`ETag` = git blob hash). Every answer to a resolve URL of a known revision
    /// carries `X-Repo-Commit`, a missing file's `404` too; a gated repository's refusals do not.
    /// Serving the repository again with another commit adds that commit; a ref named again
    /// moves to the new commit.
    ///
    /// ```
    /// let server = embed_standin::Server::start();
    /// let commit = embed_standin::commit_id("first");
    /// server.serve_hub_repo("org/tiny", &commit, &["main"], &[("config.json".to_string(), b"{}".to_vec())]);
    /// // GET {server.base}/org/tiny/resolve/main/config.json answers `{}` with X-Repo-Commit: <commit>.
    /// ```
    pub fn serve_hub_repo(&self, repo: &str, commit: &str, refs: &[&str], files: &[(String, Vec<u8>)]) {
        assert!(repo.split('/').count() == 2, "a hub repository is named `org/name`, not {repo:?}");
        assert!(
            commit.len() == 40 && commit.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "a commit is 40 lowercase hex digits, not {commit:?}"
        );
        for (path, bytes) in files {
            let served = if is_lfs(path) { Served::lfs(bytes.clone()) } else { Served::git(bytes.clone()) };
            self.serve_hub_file(repo, commit, path, served);
        }
        let mut entries: Vec<Entry> = files.iter().map(|(path, bytes)| Entry::new(path, bytes)).collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let mut hub = self.state.hub.lock().unwrap();
        let served = hub.entry(repo.to_string()).or_default();
        served.commits.insert(commit.to_string(), entries);
        served.refs.extend(refs.iter().map(|name| (name.to_string(), commit.to_string())));
    }

    /// From now on `repo`'s files need `Authorization: Bearer <token>`: without it they are
    /// answered `401`, with another token `403`, both with `X-Error-Code: GatedRepo` and the
    /// real hub's message. Its model info says `"gated": "manual"`.
    pub fn gate_hub_repo(&self, repo: &str, token: &str) {
        let mut hub = self.state.hub.lock().unwrap();
        let served = hub.get_mut(repo).unwrap_or_else(|| panic!("{repo} is not served: serve_hub_repo first"));
        served.token = Some(token.to_string());
    }

    /// Replaces the bytes `path` of `repo` at `commit` is served with, while the hash announced
    /// for it (`ETag`, `X-Linked-Etag`, the tree listing) stays the old one: a tampered file.
    /// Sizes in headers are those of the bytes now served.
    pub fn tamper_hub_file(&self, repo: &str, commit: &str, path: &str, bytes: Vec<u8>) {
        let mut files = self.state.files.lock().unwrap();
        let stored = files
            .get_mut(&file_key(repo, commit, path))
            .unwrap_or_else(|| panic!("{repo} has no {path} at {commit}: serve_hub_repo first"));
        let announced_sha256 =
            stored.served.lfs.then(|| stored.served.announced_sha256.clone().unwrap_or_else(|| sha256(&stored.body)));
        stored.served = std::sync::Arc::new(Served { announced_sha256, ..(*stored.served).clone() });
        stored.body = bytes.into();
    }
}

/// Where a hub file is stored: `/{repo}/resolve/{revision}/{path}`.
pub(crate) fn file_key(repo: &str, revision: &str, path: &str) -> String {
    format!("/{repo}/resolve/{revision}/{path}")
}

/// How the hub answers `target`; `None` for what it does not know: files served one by one
/// ([`Server::serve_hub_file`] for a repository not served whole), PyPI, other paths.
pub(crate) fn route(state: &State, target: &str, headers: &HashMap<String, String>) -> Option<Route> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let hub = state.hub.lock().unwrap();
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let (repo_id, rest) = split_repo(rest)?;
        let Some(repo) = hub.get(repo_id) else { return Some(Route::Answer(repo_not_found())) };
        let (kind, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let answer = match kind {
            "" => repo.info(repo_id, "main"),
            "revision" => repo.info(repo_id, &percent_decode(rest)),
            "tree" => repo.tree(rest, query),
            _ => return None,
        };
        return Some(Route::Answer(answer));
    }
    let (repo_id, rest) = split_repo(path.strip_prefix('/')?)?;
    let rest = rest.strip_prefix("resolve/")?;
    match hub.get(repo_id) {
        Some(repo) => Some(repo.resolve(repo_id, rest, headers)),
        None if state.files.lock().unwrap().keys().any(|key| key.starts_with(&format!("/{repo_id}/resolve/"))) => None,
        None => Some(Route::Answer(repo_not_found())),
    }
}

impl Repo {
    /// `/{repo}/resolve/{rest}`.
    fn resolve(&self, repo_id: &str, rest: &str, headers: &HashMap<String, String>) -> Route {
        if let Some(refusal) = self.refusal(repo_id, headers) {
            return Route::Answer(refusal);
        }
        let (commit, path) = match self.split_revision(rest) {
            Ok(found) => found,
            Err(revision) => return Route::Answer(revision_not_found(&revision)),
        };
        let commit_header = ("X-Repo-Commit".to_string(), commit.to_string());
        if !self.commits[commit].iter().any(|entry| entry.path == path) {
            let mut answer = error("404 Not Found", "EntryNotFound", "Entry not found".to_string());
            answer.headers.push(commit_header);
            return Route::Answer(answer);
        }
        Route::File { key: file_key(repo_id, commit, &path), headers: vec![commit_header] }
    }

    /// A gated repository's answer to a request without its token.
    fn refusal(&self, repo_id: &str, headers: &HashMap<String, String>) -> Option<Answer> {
        let token = self.token.as_deref()?;
        match headers.get("authorization").and_then(|value| value.strip_prefix("Bearer ")) {
            Some(sent) if sent.trim() == token => None,
            Some(_) => Some(error(
                "403 Forbidden",
                "GatedRepo",
                format!(
                    "Access to model {repo_id} is restricted and you are not in the authorized list. \
                     Visit https://huggingface.co/{repo_id} to ask for access."
                ),
            )),
            None => Some(error(
                "401 Unauthorized",
                "GatedRepo",
                format!(
                    "Access to model {repo_id} is restricted. You must have access to it and be authenticated \
                     to access it. Please log in."
                ),
            )),
        }
    }

    /// `/api/models/{repo}` and `/api/models/{repo}/revision/{revision}`.
    fn info(&self, repo_id: &str, revision: &str) -> Answer {
        let Some(commit) = self.commit_of(revision) else { return revision_not_found(revision) };
        json_answer(json!({
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split_once('/').map(|(org, _)| org),
            "sha": commit,
            "lastModified": LAST_MODIFIED,
            "private": false,
            "gated": if self.token.is_some() { json!("manual") } else { json!(false) },
            "disabled": false,
            "tags": [],
            "siblings": self.commits[commit].iter().map(|entry| json!({"rfilename": entry.path})).collect::<Vec<_>>(),
        }))
    }

    /// `/api/models/{repo}/tree/{revision}[/{folder}]?recursive=...`: one page, folders and
    /// files sorted by path. A folder's `oid` is made up, not git's tree hash.
    fn tree(&self, rest: &str, query: &str) -> Answer {
        let (commit, folder) = match self.split_revision(rest) {
            Ok(found) => found,
            Err(revision) => return revision_not_found(&revision),
        };
        let recursive =
            query.split('&').any(|pair| pair.eq_ignore_ascii_case("recursive=true") || pair == "recursive=1");
        let files = &self.commits[commit];
        let folders: BTreeSet<&str> =
            files.iter().flat_map(|entry| entry.path.match_indices('/').map(|(at, _)| &entry.path[..at])).collect();
        if !folder.is_empty() && !folders.contains(folder.as_str()) {
            return error("404 Not Found", "EntryNotFound", format!("{folder} does not exist on \"{commit}\""));
        }
        let prefix = if folder.is_empty() { String::new() } else { format!("{folder}/") };
        let listed = |path: &str| path.strip_prefix(&prefix).is_some_and(|below| recursive || !below.contains('/'));
        let mut entries: Vec<(&str, Value)> = folders
            .iter()
            .filter(|path| listed(path))
            .map(|path| {
                (*path, json!({"type": "directory", "oid": commit_id(&format!("{commit}:{path}")), "size": 0, "path": path}))
            })
            .collect();
        entries
            .extend(files.iter().filter(|entry| listed(&entry.path)).map(|entry| (entry.path.as_str(), entry.json())));
        entries.sort_by(|a, b| a.0.cmp(b.0));
        json_answer(Value::Array(entries.into_iter().map(|(_, entry)| entry).collect()))
    }

    /// The commit a branch, tag or commit names.
    fn commit_of(&self, revision: &str) -> Option<&str> {
        match self.commits.get_key_value(revision) {
            Some((commit, _)) => Some(commit),
            None => self.refs.get(revision).map(String::as_str),
        }
    }

    /// The commit named by the revision that `rest` starts with, and the (decoded) path after
    /// it; else the revision asked for. The revision is one percent-encoded segment, or a ref
    /// whose `/` was sent as is (the longest such ref wins).
    fn split_revision(&self, rest: &str) -> Result<(&str, String), String> {
        let (first, path) = rest.split_once('/').unwrap_or((rest, ""));
        let first = percent_decode(first);
        if let Some(commit) = self.commit_of(&first) {
            return Ok((commit, percent_decode(path)));
        }
        let whole = percent_decode(rest);
        self.refs
            .iter()
            .filter_map(|(name, commit)| {
                let path = whole.strip_prefix(name.as_str())?;
                (path.is_empty() || path.starts_with('/')).then_some((name.len(), commit, path))
            })
            .max_by_key(|(length, _, _)| *length)
            .map(|(_, commit, path)| (commit.as_str(), path.strip_prefix('/').unwrap_or(path).to_string()))
            .ok_or(first)
    }
}

impl Entry {
    fn new(path: &str, bytes: &[u8]) -> Self {
        let (oid, lfs) = if is_lfs(path) {
            let sha = sha256(bytes);
            let pointer =
                format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {}\n", bytes.len());
            (git_blob_sha1(pointer.as_bytes()), Some((sha, pointer.len())))
        } else {
            (git_blob_sha1(bytes), None)
        };
        Self { path: path.to_string(), size: bytes.len(), oid, lfs }
    }

    /// The tree listing's entry.
    fn json(&self) -> Value {
        let mut entry = json!({"type": "file", "oid": self.oid, "size": self.size, "path": self.path});
        if let Some((sha256, pointer_size)) = &self.lfs {
            entry["lfs"] = json!({"oid": sha256, "size": self.size, "pointerSize": pointer_size});
        }
        entry
    }
}

fn is_lfs(path: &str) -> bool {
    LFS_SUFFIXES.iter().any(|suffix| path.ends_with(suffix))
}

/// `org/name` and what follows its `/`, of a path that starts with a repository's name.
fn split_repo(path: &str) -> Option<(&str, &str)> {
    let org = path.find('/')?;
    match path[org + 1..].find('/') {
        Some(name) => Some((&path[..org + 1 + name], &path[org + 2 + name..])),
        None => Some((path, "")),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| hex::decode(hex).ok())
            .and_then(|byte| byte.first().copied());
        decoded.push(escaped.unwrap_or(bytes[at]));
        at += if escaped.is_some() { 3 } else { 1 };
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn json_answer(value: Value) -> Answer {
    Answer {
        status: "200 OK",
        headers: vec![("Content-Type".to_string(), "application/json; charset=utf-8".to_string())],
        body: value.to_string().into_bytes(),
    }
}

/// An error as the hub sends it: status, `X-Error-Code`, `X-Error-Message`, `{"error": message}`.
fn error(status: &'static str, code: &str, message: String) -> Answer {
    let mut answer = json_answer(json!({ "error": message }));
    answer.status = status;
    answer.headers.extend([("X-Error-Code".to_string(), code.to_string()), ("X-Error-Message".to_string(), message)]);
    answer
}

fn repo_not_found() -> Answer {
    error("404 Not Found", "RepoNotFound", "Repository not found".to_string())
}

fn revision_not_found(revision: &str) -> Answer {
    error("404 Not Found", "RevisionNotFound", format!("Invalid rev id: {revision}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_and_leaves_the_rest() {
        assert_eq!(percent_decode("refs%2Fpr%2F1"), "refs/pr/1");
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }

    #[test]
    fn splits_a_repository_from_what_follows() {
        assert_eq!(split_repo("org/name/resolve/main/x"), Some(("org/name", "resolve/main/x")));
        assert_eq!(split_repo("org/name"), Some(("org/name", "")));
        assert_eq!(split_repo("gpt2"), None);
    }
}
