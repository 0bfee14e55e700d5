//! `cargo xtask test-python`: the tests that run in Python. Puts the test model (both engines)
//! and ONNX Runtime in place, makes the venv of `scripts/requirements-python.txt` (Ray, Spark,
//! pyarrow, pytest, maturin, kubernetes-validate; once, reused while the file is unchanged),
//! builds and installs the package `crates/embed-python` into it as a user's
//! `pip install ./crates/embed-python` does, builds the `embed` binary, then runs pytest over
//! the package's tests (its API, Ray Data and Spark in local mode) and `deploy/tests` (the
//! Kubernetes manifests, and three `embed serve` replicas behind nginx losing one).
//!
//! The package's Rust build goes to a target folder of its own in the cache, outside the clone,
//! so that a warm CI run rebuilds only what changed.

use std::process::Command;

use anyhow::{Context, bail};

use crate::{paths, venv};

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// Arguments passed on to pytest (after `--`), e.g. `-k failover`.
    #[arg(last = true)]
    pytest_args: Vec<String>,
}

/// The model the Python tests use.
const TEST_MODEL: &str = "all-MiniLM-L6-v2";

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = paths::workspace_root();
    let xtask = std::env::current_exe().context("cannot find the xtask executable")?;
    run_step(Command::new(&xtask).args(["fetch-ort", "--quiet"]))?;
    run_step(Command::new(&xtask).args(["fetch-models", "--model", TEST_MODEL, "--backend", "all"]))?;
    let python = venv::ensure_python()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_step(Command::new(&cargo).current_dir(&root).args(["build", "--package", "embed-cli", "--bin", "embed"]))?;
    let embed_bin = root.join("target").join("debug").join(if cfg!(windows) { "embed.exe" } else { "embed" });
    // The build backend (maturin) is in the venv, no isolated build environment to download;
    // pip runs it by name, from the venv's folder of executables put first on PATH.
    let venv_bin = python.parent().context("the venv's python has no folder")?;
    let path = std::env::join_paths(
        std::iter::once(venv_bin.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )?;
    run_step(
        Command::new(&python)
            .current_dir(&root)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", paths::cache_dir().join("python-target"))
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "--no-build-isolation"])
            .args(["--force-reinstall", "./crates/embed-python"]),
    )?;
    run_step(
        Command::new(&python)
            .current_dir(&root)
            .env("PATH", &path)
            .env("MODEL_CACHE_DIR", paths::models_dir())
            .env("EMBED_BIN", &embed_bin)
            .args(["-m", "pytest", "-p", "no:cacheprovider", "crates/embed-python/tests", "deploy/tests"])
            .args(&args.pytest_args),
    )
}

fn run_step(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask test-python: {command:?}");
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
