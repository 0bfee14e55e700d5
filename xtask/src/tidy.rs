//! Tidy: no file of the repository reads a path outside it, so a clone in an empty directory
//! stands on its own. A test, run by `cargo test` (and so by `cargo xtask test` and CI).
//!
//! Every file git knows (tracked, or new and not ignored) is read, except data (`data/`, the
//! fuzz corpora) and non-UTF-8 files. Three rules:
//!
//! 1. No absolute path of a developer's machine: `/work`, `/root`, `/home/<user>`,
//!    `/Users/<user>` as the start of a path.
//! 2. No `shared` folder reached by going up: a line naming a path component `shared` and
//!    going up (`..`, `.parent`, `dirname`).
//! 3. No anchored path that resolves above the repository root. An anchor is a place this
//!    check can locate: `env!("CARGO_MANIFEST_DIR")` (the file's package), `workspace_root()`
//!    and Python's `REPO_ROOT` (the root), `include_str!`/`include_bytes!`/`include!`/
//!    `#[path]` (the file's folder), Python's `Path(__file__)`, the shell's `$(dirname "$0")`,
//!    and `path = "…"` in a `Cargo.toml`. The chain after it (`.join("…")`, `.parent()`,
//!    `/ "…"`, `.parent`, `/…`) is resolved. Relative paths with no anchor (a test's
//!    `"../../etc"` handed to the program as bad input) depend on the working directory and
//!    are not paths the project reads, so they are left alone.
//!
//! This file states the rules, so it holds examples of what they forbid: it is the one file
//! the check skips.

use std::path::Path;

/// The file that states the rules (see the module doc).
const THIS_FILE: &str = "xtask/src/tidy.rs";

/// Folders of data, not of code or configuration.
const DATA_DIRS: [&str; 2] = ["data/", "fuzz/corpus/"];

/// One line that breaks a rule.
#[derive(Debug, PartialEq, Eq)]
struct Finding {
    /// 1-based.
    line: usize,
    /// What is wrong.
    what: String,
}

/// Checks the text of the file at `path` (relative to the repository root, `/`-separated);
/// `package_dirs` are the folders holding a `Cargo.toml` (`""` for the root).
fn check_file(path: &str, text: &str, package_dirs: &[&str]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if let Some(found) = machine_path(line) {
            findings.push(Finding { line: index + 1, what: format!("names the machine path `{found}`") });
        }
        if names_shared_above(line) {
            findings.push(Finding { line: index + 1, what: "reaches a `shared` folder by going up".to_string() });
        }
    }
    for (offset, expression, base) in anchored_paths(path, text, package_dirs) {
        if resolve(&base, &expression).is_none() {
            let line = text[..offset].matches('\n').count() + 1;
            findings.push(Finding { line, what: format!("`{expression}` resolves outside the repository") });
        }
    }
    findings.sort_by_key(|f| f.line);
    findings
}

// ---------------------------------------------------------------------------------------------
// Rules 1 and 2: one line at a time.

/// Characters after which a `/` starts a path (not the middle of a URL or a longer path).
fn starts_path(before: Option<char>) -> bool {
    before.is_none_or(|c| c.is_whitespace() || "\"'`(=[,:".contains(c))
}

/// The first absolute path of a developer's machine on the line.
fn machine_path(line: &str) -> Option<String> {
    for (at, _) in line.match_indices('/') {
        if !starts_path(line[..at].chars().next_back()) {
            continue;
        }
        let rest = &line[at + 1..];
        let segment: String = rest.chars().take_while(|c| !"/\"'`) \t,;:]".contains(*c)).collect();
        let next = rest[segment.len()..].chars().next();
        let machine = match segment.as_str() {
            "work" | "root" => true,
            // A user's home needs the user: `/home/<user>`.
            "home" | "Users" => {
                next == Some('/') && rest[segment.len() + 1..].chars().next().is_some_and(char::is_alphanumeric)
            }
            _ => false,
        };
        if machine {
            return Some(format!("/{segment}"));
        }
    }
    None
}

/// Whether the line names a path component `shared` and goes up.
fn names_shared_above(line: &str) -> bool {
    let component = line.match_indices("shared").any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + "shared".len()..].chars().next();
        let quoted = matches!((before, after), (Some('"'), Some('"')) | (Some('\''), Some('\'')));
        let ends = after.is_none_or(|c| "/\"'`) \t".contains(c));
        quoted || (before == Some('/') && ends) || (after == Some('/') && starts_path(before))
    });
    let up = ["../", "/..", "\"..\"", "'..'", ".parent", "dirname"].iter().any(|up| line.contains(up));
    component && up
}

// ---------------------------------------------------------------------------------------------
// Rule 3: anchored paths.

/// `(byte offset, expression, base folder)` of every anchored path of the file: the expression
/// is the `/`-joined chain after the anchor (`..` for each step up).
fn anchored_paths(path: &str, text: &str, package_dirs: &[&str]) -> Vec<(usize, String, String)> {
    let dir = parent_of(path);
    let package = package_dirs
        .iter()
        .filter(|p| p.is_empty() || dir == **p || dir.starts_with(&format!("{p}/")))
        .max_by_key(|p| p.len())
        .map_or(String::new(), |p| (*p).to_string());
    let mut found = Vec::new();
    let mut anchor = |needle: &str, base: &str, chain: fn(&str) -> Vec<String>| {
        for (at, _) in text.match_indices(needle) {
            let steps = chain(&text[at + needle.len()..]);
            if !steps.is_empty() {
                found.push((at, steps.join("/"), base.to_string()));
            }
        }
    };
    anchor("env!(\"CARGO_MANIFEST_DIR\")", &package, rust_chain);
    anchor("workspace_root()", "", rust_chain);
    for include in ["include_str!(", "include_bytes!(", "include!(", "#[path = "] {
        anchor(include, &dir, |rest| literal(rest.trim_start()).map(|(s, _)| vec![s.to_string()]).unwrap_or_default());
    }
    anchor("REPO_ROOT", "", python_chain);
    // `Path(__file__)` is the file itself: its first `.parent` is the file's folder.
    anchor("Path(__file__)", path, python_chain);
    anchor("$(dirname \"$0\")", &dir, shell_chain);
    anchor("$(dirname \"${BASH_SOURCE[0]}\")", &dir, shell_chain);
    if path == "Cargo.toml" || path.ends_with("/Cargo.toml") {
        anchor("path = ", &dir, |rest| literal(rest).map(|(s, _)| vec![s.to_string()]).unwrap_or_default());
    }
    found
}

/// A string literal at the start of `text` (`"…"` or `'…'`) and the text after it.
fn literal(text: &str) -> Option<(&str, &str)> {
    let quote = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = text[1..].find(quote)?;
    Some((&text[1..=end], &text[end + 2..]))
}

/// `.join("…")`, `.parent()` and `concat!`'s `, "…"` steps after a Rust anchor.
fn rust_chain(text: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut rest = text.trim_start_matches(')');
    if let Some((piece, after)) = rest.trim_start().strip_prefix(',').and_then(|r| literal(r.trim_start())) {
        steps.push(piece.trim_start_matches('/').to_string());
        rest = after;
    }
    loop {
        let trimmed = rest.trim_start();
        if let Some(after) = trimmed.strip_prefix(".parent()") {
            steps.push("..".to_string());
            rest = after;
        } else if let Some((piece, after)) = trimmed
            .strip_prefix(".join(")
            .and_then(|r| literal(r.trim_start()))
            .filter(|(_, a)| a.trim_start().starts_with(')'))
        {
            steps.push(piece.to_string());
            rest = after.trim_start().trim_start_matches(')');
        } else {
            return steps;
        }
    }
}

/// `.resolve()`, `.parent`, `/ "…"` and `.joinpath("…")` steps after a Python anchor.
fn python_chain(text: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = trimmed.strip_prefix(".resolve()") {
            rest = after;
        } else if let Some(after) =
            trimmed.strip_prefix(".parent").filter(|a| !a.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        {
            steps.push("..".to_string());
            rest = after;
        } else if let Some((piece, after)) = trimmed.strip_prefix('/').and_then(|r| literal(r.trim_start())) {
            steps.push(piece.to_string());
            rest = after;
        } else if let Some((piece, after)) = trimmed.strip_prefix(".joinpath(").and_then(literal) {
            steps.push(piece.to_string());
            rest = after.trim_start_matches(')');
        } else {
            return steps;
        }
    }
}

/// The `/…` right after a shell anchor, up to a quote or a space.
fn shell_chain(text: &str) -> Vec<String> {
    let tail: String = text.chars().take_while(|c| !"\"' \t\n;)".contains(*c)).collect();
    match tail.strip_prefix('/') {
        Some(path) if !path.is_empty() => vec![path.to_string()],
        _ => Vec::new(),
    }
}

/// `base` (a folder or file relative to the root) followed by `expression`, normalized; `None`
/// when it climbs above the root.
fn resolve(base: &str, expression: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in expression.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            // An absolute path or a variable's value: not something this check can place.
            part if part.starts_with('$') || part.starts_with('{') => return Some(String::new()),
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

fn parent_of(path: &str) -> String {
    path.rsplit_once('/').map_or(String::new(), |(dir, _)| dir.to_string())
}

/// Every finding in the repository at `root`, as `path:line: what`.
fn check_repository(root: &Path) -> Result<Vec<String>, String> {
    let output = std::process::Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .map_err(|err| format!("cannot run git ls-files in {}: {err}", root.display()))?;
    if !output.status.success() {
        return Err(format!("git ls-files failed in {}: {}", root.display(), String::from_utf8_lossy(&output.stderr)));
    }
    let listing = String::from_utf8(output.stdout).map_err(|err| format!("a file name is not UTF-8: {err}"))?;
    let mut files: Vec<&str> = listing.split('\0').filter(|f| !f.is_empty()).collect();
    files.sort_unstable();
    files.dedup();
    let package_dirs: Vec<&str> = files
        .iter()
        .filter(|f| **f == "Cargo.toml" || f.ends_with("/Cargo.toml"))
        .map(|f| f.trim_end_matches("Cargo.toml").trim_end_matches('/'))
        .collect();
    let mut findings = Vec::new();
    for file in files {
        if file == THIS_FILE || DATA_DIRS.iter().any(|d| file.starts_with(d)) {
            continue;
        }
        // A tracked file deleted in the work tree, or a binary file: nothing to read.
        let Ok(text) = std::fs::read_to_string(root.join(file)) else { continue };
        for finding in check_file(file, &text, &package_dirs) {
            findings.push(format!("{file}:{}: {}", finding.line, finding.what));
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGES: [&str; 4] = ["", "crates/embed-core", "fuzz", "xtask"];

    fn whats(path: &str, text: &str) -> Vec<String> {
        check_file(path, text, &PACKAGES).into_iter().map(|f| format!("{}: {}", f.line, f.what)).collect()
    }

    #[test]
    fn the_repository_reads_nothing_outside_itself() {
        let root = crate::paths::workspace_root();
        let findings = check_repository(&root).unwrap_or_else(|err| panic!("{err}"));
        assert!(findings.is_empty(), "paths outside the repository:\n{}", findings.join("\n"));
    }

    #[test]
    fn machine_paths_are_found_at_the_start_of_a_path_only() {
        assert_eq!(whats("a.rs", "let p = \"/work/main/x\";"), ["1: names the machine path `/work`"]);
        assert_eq!(whats("a.py", "CACHE = Path('/root/.cache/embed')"), ["1: names the machine path `/root`"]);
        assert_eq!(whats("a.md", "see /home/alice/models"), ["1: names the machine path `/home`"]);
        assert!(whats("a.md", "https://example.com/root/x and {prefix}/work and /workspace and /home").is_empty());
    }

    #[test]
    fn a_shared_folder_above_is_found_in_every_spelling() {
        let found = ["1: reaches a `shared` folder by going up"];
        // Anchored at the root, the same path also climbs above it.
        assert_eq!(
            whats("a.rs", "let p = workspace_root().join(\"../shared/data/x.csv\");"),
            [found[0], "1: `../shared/data/x.csv` resolves outside the repository"]
        );
        assert_eq!(whats("b.rs", "let p = root.join(\"..\").join(\"shared\").join(\"data\");"), found);
        assert_eq!(whats("c.py", "STSB = ROOT.parent / \"shared\" / \"data\""), found);
        assert!(whats("d.rs", "let shared = Arc::clone(&state); let tail = &v[..n];").is_empty());
        assert!(whats("e.sh", "# the clone has no shared/ folder beside it").is_empty());
    }

    #[test]
    fn anchored_paths_inside_the_repository_pass() {
        let test_file = "crates/embed-core/tests/it/main.rs";
        assert!(whats(test_file, "PathBuf::from(env!(\"CARGO_MANIFEST_DIR\")).join(\"../..\")").is_empty());
        let chain = "let root = PathBuf::from(env!(\"CARGO_MANIFEST_DIR\"))\n    .join(\"..\")\n    .join(\"..\")\n    .join(\"models\");";
        assert!(whats(test_file, chain).is_empty());
        assert!(whats("crates/embed-core/src/lib.rs", "include_str!(\"../../../models/manifest.toml\")").is_empty());
        assert!(whats(".ci/run", "cd \"$(dirname \"$0\")/..\"").is_empty());
        assert!(whats("fuzz/Cargo.toml", "embed-core = { path = \"../crates/embed-core\" }").is_empty());
        assert!(whats("scripts/x.py", "REPO_ROOT = Path(__file__).resolve().parent.parent").is_empty());
        assert!(whats("scripts/x.py", "TEXTS = REPO_ROOT / \"data\" / \"x.csv\"").is_empty());
        // Bad input handed to the program: relative to its working directory, not a read.
        assert!(whats(test_file, "service.embed_with_model(\"../../../../../../etc/passwd\", &[\"x\"])").is_empty());
    }

    #[test]
    fn anchored_paths_above_the_root_are_found() {
        let above = |path: &str, text: &str| {
            let found = whats(path, text);
            assert!(
                found.len() == 1 && found[0].ends_with("resolves outside the repository"),
                "{path}: {text}: {found:?}"
            );
        };
        above("crates/embed-core/tests/it/main.rs", "PathBuf::from(env!(\"CARGO_MANIFEST_DIR\")).join(\"../../..\")");
        above(
            "crates/embed-core/src/lib.rs",
            "let p = Path::new(env!(\"CARGO_MANIFEST_DIR\"))\n    .parent()\n    .parent()\n    .parent();",
        );
        above("crates/embed-core/src/lib.rs", "concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../../other\")");
        above("xtask/src/bench.rs", "let corpus = workspace_root().join(\"..\").join(\"corpora\");");
        above("crates/embed-core/src/lib.rs", "include_str!(\"../../../../sibling/file.toml\")");
        above(".ci/run", "cd \"$(dirname \"$0\")/../..\"");
        above("fuzz/Cargo.toml", "other = { path = \"../../other\" }");
        above("scripts/x.py", "DATA = REPO_ROOT.parent / \"corpora\"");
        above("scripts/x.py", "ROOT = Path(__file__).resolve().parent.parent.parent");
        assert_eq!(
            whats("a.rs", "x\nlet p = workspace_root().join(\"../other\");"),
            ["2: `../other` resolves outside the repository"]
        );
    }

    #[test]
    fn resolving_stops_at_the_root() {
        assert_eq!(resolve("crates/a", "../.."), Some(String::new()));
        assert_eq!(resolve("crates/a", "../../models"), Some("models".to_string()));
        assert_eq!(resolve("crates/a", "../../.."), None);
        assert_eq!(resolve("", "$HOME/x"), Some(String::new()));
    }
}
