//! Models named by their Hugging Face hub id, and where the Hugging Face cache keeps them.
//!
//! A hub id is `org/name`, with an optional `@revision` (a branch, a tag or a 40-digit commit):
//! [`HubId::parse`] checks it as the hub does, and refuses anything that could name a path
//! outside the cache (`..`, empty parts, separators, odd characters).
//!
//! The cache is huggingface_hub's own layout, so a model fetched by sentence-transformers is
//! found here and one fetched by embed is found there ([`HubCache`]):
//!
//! ```text
//! <hub cache>/models--<org>--<name>/
//!     refs/<revision>            the commit a branch or tag pointed at when last fetched
//!     snapshots/<commit>/<path>  each file of the repository at that commit (a link to its blob)
//!     blobs/<etag>               the contents, named by the hash the hub announced
//! <hub cache>/.locks/            lock files (huggingface_hub skips this folder)
//! ```
//!
//! [`hub_cache_dir`] says where the cache is as huggingface_hub does (`HF_HUB_CACHE`, else
//! `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`).
//! This file describes names and places; it must not know how files are fetched or read.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The branch a hub id without `@revision` names.
pub const DEFAULT_HUB_REVISION: &str = "main";

/// A hub id that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a Hugging Face hub id (org/name, optionally @revision): {reason}")]
pub struct HubIdError {
    /// What was given.
    pub given: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A repository of the hub and the revision asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubId {
    /// `org/name`.
    pub repo: String,
    /// A branch, tag or commit; `None`: [`DEFAULT_HUB_REVISION`].
    pub revision: Option<String>,
}

impl HubId {
    /// Parses `org/name[@revision]`. Each part of the repository is 1 to 96 of `A-Z a-z 0-9 - _ .`,
    /// neither starting nor ending with `-` or `.`, without `--` or `..` (the hub's own rule);
    /// a revision is parts of the same characters separated by `/` (`refs/pr/1`), none of them
    /// `.` or `..`.
    pub fn parse(spec: &str) -> Result<Self, HubIdError> {
        let error = |reason: &str| HubIdError { given: spec.to_string(), reason: reason.to_string() };
        let (repo, revision) = match spec.split_once('@') {
            Some((repo, revision)) => (repo, Some(revision)),
            None => (spec, None),
        };
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2 {
            return Err(error("a hub id has exactly two parts, the owner and the name, separated by one `/`"));
        }
        for part in parts {
            check_repo_part(part).map_err(|reason| error(&reason))?;
        }
        if let Some(revision) = revision {
            check_revision(revision).map_err(|reason| error(&reason))?;
        }
        Ok(Self { repo: repo.to_string(), revision: revision.map(str::to_string) })
    }

    /// The revision asked for, or [`DEFAULT_HUB_REVISION`].
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_HUB_REVISION)
    }

    /// Whether the revision is a commit (40 hexadecimal digits), which never moves.
    pub fn pins_a_commit(&self) -> bool {
        is_commit(self.revision())
    }
}

impl std::fmt::Display for HubId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.revision {
            Some(revision) => write!(f, "{}@{revision}", self.repo),
            None => f.write_str(&self.repo),
        }
    }
}

/// Whether `revision` is a full commit id.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_repo_part(part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err("an empty owner or name".into());
    }
    if part.len() > 96 {
        return Err(format!("`{part}` is longer than 96 characters"));
    }
    if let Some(odd) = part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("`{part}` holds `{odd}`; only letters, digits, `-`, `_` and `.` are allowed"));
    }
    if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
        return Err(format!("`{part}` starts or ends with `-` or `.`"));
    }
    if part.contains("--") || part.contains("..") {
        return Err(format!("`{part}` holds `--` or `..`"));
    }
    Ok(())
}

fn check_revision(revision: &str) -> Result<(), String> {
    if revision.is_empty() {
        return Err("an empty revision after `@`".into());
    }
    for part in revision.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!("revision `{revision}` has an empty, `.` or `..` part"));
        }
        if let Some(odd) = part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
            return Err(format!("revision `{revision}` holds `{odd}`"));
        }
    }
    Ok(())
}

/// The Hugging Face cache: where hub models are kept, by huggingface_hub and by embed alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCache {
    root: PathBuf,
}

impl HubCache {
    /// The cache at `root` (see [`hub_cache_dir`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `models--org--name`.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The folder of the repository at `commit`.
    pub fn snapshot_dir(&self, repo: &str, commit: &str) -> PathBuf {
        self.repo_dir(repo).join("snapshots").join(commit)
    }

    /// The file recording which commit `revision` (a branch or tag) pointed at.
    pub fn ref_file(&self, repo: &str, revision: &str) -> PathBuf {
        self.repo_dir(repo).join("refs").join(revision)
    }

    /// Where the contents of a file the hub announced as `etag` are kept.
    pub fn blob_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs").join(etag)
    }

    /// The target whose lock guards writing into a repository's folder: a file of
    /// `.locks/`, which huggingface_hub skips when it reads the cache.
    pub fn lock_target(&self, repo: &str) -> PathBuf {
        self.root.join(".locks").join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The commit `id` stands for in the cache: the commit itself where it names one, else
    /// what `refs/<revision>` records; `None` when the cache has never resolved it.
    pub fn commit(&self, id: &HubId) -> Option<String> {
        let revision = id.revision();
        if is_commit(revision) {
            return Some(revision.to_ascii_lowercase());
        }
        let recorded = std::fs::read_to_string(self.ref_file(&id.repo, revision)).ok()?;
        let recorded = recorded.trim();
        is_commit(recorded).then(|| recorded.to_ascii_lowercase())
    }

    /// The snapshot `id` stands for, where the cache has resolved it.
    pub fn snapshot(&self, id: &HubId) -> Option<PathBuf> {
        self.commit(id).map(|commit| self.snapshot_dir(&id.repo, &commit))
    }

    /// Every repository the cache holds a snapshot of, with its snapshots and the refs
    /// pointing at each, in name order.
    pub fn cached_repos(&self) -> Vec<CachedRepo> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut repos: Vec<CachedRepo> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let repo = name.strip_prefix("models--")?.replacen("--", "/", 1);
                HubId::parse(&repo).ok()?;
                let refs = read_refs(&entry.path().join("refs"));
                let mut snapshots: Vec<CachedSnapshot> = std::fs::read_dir(entry.path().join("snapshots"))
                    .ok()?
                    .flatten()
                    .filter_map(|snapshot| {
                        let commit = snapshot.file_name().into_string().ok().filter(|c| is_commit(c))?;
                        let refs = refs.iter().filter(|(_, c)| *c == commit).map(|(r, _)| r.clone()).collect();
                        Some(CachedSnapshot { dir: snapshot.path(), commit, refs })
                    })
                    .collect();
                snapshots.sort_by(|a, b| b.refs.len().cmp(&a.refs.len()).then_with(|| a.commit.cmp(&b.commit)));
                (!snapshots.is_empty()).then_some(CachedRepo { repo, snapshots })
            })
            .collect();
        repos.sort_by(|a, b| a.repo.cmp(&b.repo));
        repos
    }
}

/// Every `refs/...` file under `dir`, as (revision, commit).
fn read_refs(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            let revision = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            if entry.path().is_dir() {
                pending.push((entry.path(), revision));
            } else if let Ok(commit) = std::fs::read_to_string(entry.path()) {
                found.push((revision, commit.trim().to_ascii_lowercase()));
            }
        }
    }
    found.sort();
    found
}

/// A repository in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRepo {
    /// `org/name`.
    pub repo: String,
    /// Its snapshots: those a ref points at first.
    pub snapshots: Vec<CachedSnapshot>,
}

/// One commit of a repository in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSnapshot {
    /// Its folder.
    pub dir: PathBuf,
    /// The commit.
    pub commit: String,
    /// The branches and tags that point at it.
    pub refs: Vec<String>,
}

/// Where the Hugging Face cache is, as huggingface_hub finds it: `HF_HUB_CACHE`, else
/// `HUGGINGFACE_HUB_CACHE` (its older name), else `HF_HOME/hub`, else
/// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. `var` looks a variable up
/// (pass `std::env::var_os`); an empty value counts as unset.
pub fn hub_cache_dir(var: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("HF_HUB_CACHE").or_else(|| set("HUGGINGFACE_HUB_CACHE")) {
        return dir;
    }
    let home = set("HF_HOME").unwrap_or_else(|| {
        let cache = set("XDG_CACHE_HOME")
            .unwrap_or_else(|| set("HOME").or_else(|| set("USERPROFILE")).unwrap_or_default().join(".cache"));
        cache.join("huggingface")
    });
    home.join("hub")
}

/// Whether a value of `HF_HUB_OFFLINE` means offline, as huggingface_hub reads it
/// (`1`, `true`, `yes`, `on`, any case).
pub fn offline_value(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on" | "y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_parse_with_and_without_a_revision() {
        let id = HubId::parse("BAAI/bge-small-en-v1.5").unwrap();
        assert_eq!((id.repo.as_str(), id.revision.as_deref(), id.revision()), ("BAAI/bge-small-en-v1.5", None, "main"));
        let id = HubId::parse("org/name@refs/pr/1").unwrap();
        assert_eq!(id.revision(), "refs/pr/1");
        assert!(!id.pins_a_commit());
        let commit = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
        assert!(HubId::parse(&format!("org/name@{commit}")).unwrap().pins_a_commit());
        assert_eq!(HubId::parse("o_1/n.a-me@v1.0").unwrap().to_string(), "o_1/n.a-me@v1.0");
    }

    #[test]
    fn malformed_ids_are_refused_with_the_reason() {
        for (given, reason) in [
            ("../x", "starts or ends"),
            ("name", "exactly two parts"),
            ("a/b/c", "exactly two parts"),
            ("/name", "empty owner"),
            ("org/", "empty owner"),
            ("org/..", "starts or ends"),
            ("org/a..b", "`..`"),
            ("org/a--b", "`--`"),
            ("org/na me", "holds ` `"),
            ("org/name@", "empty revision"),
            ("org/name@../../etc", "`..` part"),
            ("org/name@a//b", "empty"),
            ("org/name@a\\b", "holds `\\`"),
            ("org/näme", "holds `ä`"),
        ] {
            let error = HubId::parse(given).unwrap_err().to_string();
            assert!(error.contains(reason), "{given}: {error}");
            assert!(error.starts_with(&format!("`{given}` is not a Hugging Face hub id")), "{error}");
        }
        assert!(HubId::parse(&format!("org/{}", "a".repeat(97))).is_err());
    }

    #[test]
    fn the_cache_is_laid_out_as_huggingface_hub_lays_it_out() {
        let cache = HubCache::new("/hub");
        assert_eq!(cache.repo_dir("BAAI/bge"), Path::new("/hub/models--BAAI--bge"));
        assert_eq!(cache.snapshot_dir("o/n", "abc"), Path::new("/hub/models--o--n/snapshots/abc"));
        assert_eq!(cache.ref_file("o/n", "refs/pr/1"), Path::new("/hub/models--o--n/refs/refs/pr/1"));
        assert_eq!(cache.blob_path("o/n", "e"), Path::new("/hub/models--o--n/blobs/e"));
        assert_eq!(cache.lock_target("o/n"), Path::new("/hub/.locks/models--o--n"));
    }

    #[test]
    fn refs_resolve_to_commits_and_cached_repos_are_listed() {
        let root = tempfile::tempdir().unwrap();
        let cache = HubCache::new(root.path());
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        for commit in [&a, &b] {
            std::fs::create_dir_all(cache.snapshot_dir("o/n", commit)).unwrap();
        }
        std::fs::create_dir_all(cache.ref_file("o/n", "refs/pr/1").parent().unwrap()).unwrap();
        std::fs::write(cache.ref_file("o/n", "main"), &b).unwrap();
        std::fs::write(cache.ref_file("o/n", "refs/pr/1"), format!("{a}\n")).unwrap();
        std::fs::create_dir_all(root.path().join(".locks")).unwrap();
        std::fs::create_dir_all(root.path().join("datasets--o--d/snapshots").join(&a)).unwrap();

        assert_eq!(cache.commit(&HubId::parse("o/n").unwrap()), Some(b.clone()));
        assert_eq!(cache.commit(&HubId::parse("o/n@refs/pr/1").unwrap()), Some(a.clone()));
        assert_eq!(cache.commit(&HubId::parse("o/n@v2").unwrap()), None);
        assert_eq!(cache.commit(&HubId::parse(&format!("o/n@{}", "C".repeat(40))).unwrap()), Some("c".repeat(40)));
        let repos = cache.cached_repos();
        assert_eq!(repos.len(), 1, "{repos:?}");
        assert_eq!(repos[0].repo, "o/n");
        let listed: Vec<(&str, Vec<String>)> =
            repos[0].snapshots.iter().map(|s| (s.commit.as_str(), s.refs.clone())).collect();
        assert_eq!(listed, [(a.as_str(), vec!["refs/pr/1".to_string()]), (b.as_str(), vec!["main".to_string()])]);
    }

    #[test]
    fn the_cache_folder_follows_huggingface_hubs_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
        };
        assert_eq!(hub_cache_dir(env(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")])), Path::new("/c"));
        assert_eq!(hub_cache_dir(env(&[("HUGGINGFACE_HUB_CACHE", "/old")])), Path::new("/old"));
        assert_eq!(hub_cache_dir(env(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/h")])), Path::new("/h/hub"));
        assert_eq!(hub_cache_dir(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/u")])), Path::new("/x/huggingface/hub"));
        assert_eq!(hub_cache_dir(env(&[("HOME", "/u")])), Path::new("/u/.cache/huggingface/hub"));
        assert!(offline_value("1") && offline_value("TRUE") && !offline_value("0") && !offline_value(""));
    }
}
