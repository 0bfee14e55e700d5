//! The Python venvs of the project: `convert-venv` runs `scripts/*.py` (conversion and golden
//! references), `clients-venv` what the server tests drive the server with (`openai`,
//! `huggingface_hub`, and `schemathesis`, which fuzzes the server from its OpenAPI document),
//! `python-venv` the Python package's tests (Ray, Spark, pytest, maturin).
//!
//! Each is created once under the cache dir from its requirements file in `scripts/` (every
//! package pinned) and reused while a stamp file in it holds that file's sha256; a changed
//! requirements file reinstalls. Creating or reinstalling holds the venv's lock
//! ([`embed_fetch::CacheLock`]): a second process waits for the first and then uses its venv.
//! Only this module knows where the venvs live and how Python is started.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::paths;

/// The file in the venv holding the sha256 of the requirements it was installed from.
const STAMP: &str = "requirements.sha256";

/// The venv's directory.
pub fn venv_dir() -> PathBuf {
    paths::cache_dir().join("convert-venv")
}

/// `scripts/` of the workspace.
pub fn scripts_dir() -> PathBuf {
    paths::workspace_root().join("scripts")
}

/// The Python interpreter inside a venv.
fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) { venv.join("Scripts").join("python.exe") } else { venv.join("bin").join("python") }
}

/// The Python that creates the venv: `EMBED_PYTHON`, else `python3` (`python` on Windows).
fn base_python() -> OsString {
    match std::env::var_os("EMBED_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => p,
        None if cfg!(windows) => "python".into(),
        None => "python3".into(),
    }
}

/// Makes sure the conversion venv exists and matches `scripts/requirements.txt`; returns its
/// Python.
pub fn ensure() -> anyhow::Result<PathBuf> {
    ensure_venv(&venv_dir(), "requirements.txt", "convert venv")
}

/// Makes sure the HTTP clients' venv exists and matches `scripts/requirements-clients.txt`;
/// returns its Python.
pub fn ensure_clients() -> anyhow::Result<PathBuf> {
    ensure_venv(&paths::cache_dir().join("clients-venv"), "requirements-clients.txt", "clients venv")
}

/// Makes sure the Python tests' venv exists and matches `scripts/requirements-python.txt`;
/// returns its Python.
pub fn ensure_python() -> anyhow::Result<PathBuf> {
    ensure_venv(&paths::cache_dir().join("python-venv"), "requirements-python.txt", "python venv")
}

fn ensure_venv(venv: &Path, requirements_file: &str, label: &str) -> anyhow::Result<PathBuf> {
    let requirements = scripts_dir().join(requirements_file);
    let text = std::fs::read(&requirements).with_context(|| format!("cannot read {}", requirements.display()))?;
    let digest = hex::encode(Sha256::digest(&text));
    let python = venv_python(venv);
    let stamp = venv.join(STAMP);
    let ready = || python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == digest);
    if ready() {
        return Ok(python);
    }
    let _lock = embed_fetch::CacheLock::acquire(venv, |lock| {
        eprintln!(
            "{label}: waiting for another process to finish creating {} (lock {})",
            venv.display(),
            lock.display()
        );
    })
    .with_context(|| format!("cannot lock {}", venv.display()))?;
    // The process this one waited for may have made it.
    if ready() {
        return Ok(python);
    }

    let text = String::from_utf8_lossy(&text);
    let pinned = text.lines().filter(|l| l.contains("==")).count();
    let packages = top_level_packages(&text);
    if python.is_file() {
        eprintln!("{label}: {} changed; reinstalling into {}", requirements.display(), venv.display());
    } else {
        eprintln!("{label}: creating {} (once; reused afterwards)", venv.display());
        std::fs::create_dir_all(paths::cache_dir())
            .with_context(|| format!("cannot create {}", paths::cache_dir().display()))?;
        let base = base_python();
        run(Command::new(&base).arg("-m").arg("venv").arg(venv))
            .with_context(|| format!("cannot create a venv with {}", base.to_string_lossy()))?;
    }
    let torch_note = if packages.iter().any(|p| p.starts_with("torch==")) {
        "; torch brings CUDA libraries on Linux, several GB on the first install"
    } else {
        ""
    };
    eprintln!(
        "{label}: installing {pinned} pinned packages from {} (for {}){torch_note}",
        requirements.display(),
        packages.join(", ")
    );
    // The stamp goes only after a complete install, so an interrupted one is redone.
    let _ = std::fs::remove_file(&stamp);
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "on"])
        .arg("--requirement")
        .arg(&requirements))
    .with_context(|| format!("pip install of {} failed", requirements.display()))?;
    std::fs::write(&stamp, format!("{digest}\n")).with_context(|| format!("cannot write {}", stamp.display()))?;
    eprintln!("{label}: ready");
    Ok(python)
}

/// Runs `scripts/<script>` with the venv's Python, output passed through.
pub fn run_script(script: &str, args: &[OsString]) -> anyhow::Result<()> {
    let python = ensure()?;
    let path = scripts_dir().join(script);
    run(Command::new(python).arg(&path).args(args)).with_context(|| format!("{} failed", path.display()))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status =
        command.status().with_context(|| format!("cannot start {}", command.get_program().to_string_lossy()))?;
    if !status.success() {
        bail!("{} exited with {status}", command.get_program().to_string_lossy());
    }
    Ok(())
}

/// The packages the scripts import, for the message shown before installing: the conversion
/// stack's direct dependencies where the file has them, else every pinned package.
fn top_level_packages(requirements: &str) -> Vec<&str> {
    const DIRECT: [&str; 9] = [
        "torch",
        "transformers",
        "sentence-transformers",
        "optimum",
        "optimum-onnx",
        "onnx",
        "onnxruntime",
        "tokenizers",
        "scipy",
    ];
    let pinned: Vec<&str> =
        requirements.lines().map(|l| l.split(';').next().unwrap_or("").trim()).filter(|l| l.contains("==")).collect();
    let direct: Vec<&str> = pinned
        .iter()
        .copied()
        .filter(|l| {
            let name = l.split("==").next().unwrap_or("");
            DIRECT.iter().any(|d| d.eq_ignore_ascii_case(name))
        })
        .collect();
    if direct.is_empty() { pinned } else { direct }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_direct_packages_with_versions() {
        let req = "# comment\ntorch==2.15.0\nnvidia-nccl-cu13==2.30.7; platform_system == \"Linux\"\nonnx==1.23.2\n";
        assert_eq!(top_level_packages(req), ["torch==2.15.0", "onnx==1.23.2"]);
    }
}
