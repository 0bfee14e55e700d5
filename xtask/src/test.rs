//! `cargo xtask test`: the project's test command. Puts ONNX Runtime, the test models
//! (fetching and converting what is missing) and the Python HTTP clients in place, then runs
//! `cargo test --workspace`.

use std::process::Command;

use anyhow::{Context, bail};

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// Arguments passed on to `cargo test` (after `--`).
    #[arg(last = true)]
    cargo_test_args: Vec<String>,
}

/// Models the tests use, with the variants they need.
const TEST_MODELS: [&str; 2] = ["all-MiniLM-L6-v2", "all-mpnet-base-v2"];

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let xtask = std::env::current_exe().context("cannot find the xtask executable")?;
    run_step(Command::new(&xtask).arg("fetch-ort"))?;
    let mut fetch = Command::new(&xtask);
    fetch.arg("fetch-models");
    for model in TEST_MODELS {
        fetch.args(["--model", model]);
    }
    // Both engines are tested: the checkpoint (native) and the ONNX files (ONNX Runtime).
    fetch.args(["--backend", "all", "--variant", "fp32", "--variant", "int8"]);
    run_step(&mut fetch)?;
    // The server tests drive the real Python clients (openai, huggingface_hub) and schemathesis with it.
    let clients_python = crate::venv::ensure_clients()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_step(
        Command::new(cargo)
            .current_dir(crate::paths::workspace_root())
            .env("EMBED_CLIENTS_PYTHON", clients_python)
            .args(["test", "--workspace"])
            .args(&args.cargo_test_args),
    )
}

fn run_step(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask test: {command:?}");
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
