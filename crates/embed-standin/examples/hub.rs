//! Serves folders as hub repositories from a process of its own, for tests written in other
//! languages (Python's `huggingface_hub` with `HF_ENDPOINT`):
//!
//! ```text
//! cargo run -p embed-standin --example hub -- <org/name> <folder> [--ref <name>]... [--gate <token>] [<org/name> <folder> ...]
//! ```
//!
//! Every file under a folder is served at commit `commit_id(<org/name>)` (the sha1 of the
//! repository's name), reachable through each `--ref` after it (`main` when none is given);
//! `--gate` makes that repository gated. The first line on stdout is the endpoint, then one
//! line `<org/name> <commit>` per repository; the server runs until stdin is closed, so the test
//! that started it ends it by closing the pipe.

use std::path::Path;

/// A repository asked for on the command line.
struct Asked {
    name: String,
    folder: String,
    refs: Vec<String>,
    token: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: hub <org/name> <folder> [--ref <name>]... [--gate <token>] [<org/name> <folder> ...]";
    let mut asked: Vec<Asked> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (value, last) = (args.next().ok_or(usage)?, asked.last_mut());
        match (arg.as_str(), last) {
            ("--ref", Some(repo)) => repo.refs.push(value),
            ("--gate", Some(repo)) => repo.token = Some(value),
            (name, _) if !name.starts_with("--") => {
                asked.push(Asked { name: arg, folder: value, refs: Vec::new(), token: None });
            }
            _ => return Err(usage.into()),
        }
    }
    if asked.is_empty() {
        return Err(usage.into());
    }

    let server = embed_standin::Server::start();
    println!("{}", server.base);
    for repo in &asked {
        let mut files = Vec::new();
        collect(Path::new(&repo.folder), "", &mut files)?;
        let commit = embed_standin::commit_id(&repo.name);
        let refs: Vec<&str> =
            if repo.refs.is_empty() { vec!["main"] } else { repo.refs.iter().map(String::as_str).collect() };
        server.serve_hub_repo(&repo.name, &commit, &refs, &files);
        if let Some(token) = &repo.token {
            server.gate_hub_repo(&repo.name, token);
        }
        println!("{} {commit}", repo.name);
    }
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    Ok(())
}

/// The files under `dir`, with their paths below the folder served (`/`-separated).
fn collect(dir: &Path, prefix: &str, files: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type()?.is_dir() {
            collect(&entry.path(), &format!("{path}/"), files)?;
        } else {
            files.push((path, std::fs::read(entry.path())?));
        }
    }
    Ok(())
}
