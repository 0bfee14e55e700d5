//! `cargo xtask fetch-ort`: the ONNX Runtime shared library for this host, from PyPI's
//! `onnxruntime` wheel, into `libs/onnxruntime-<version>/`; prints the library's path on stdout.
//!
//! The download itself is `embed-fetch`'s; this task only chooses the version and the folders.
//! It must not know how the runtime is loaded.

use std::io::Write;

use anyhow::Context;
use embed_fetch::{DEFAULT_ORT_VERSION, DEFAULT_PYPI_URL, Downloader, FetchConfig, PypiClient};

use crate::paths;

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// ONNX Runtime version (a release of the `onnxruntime` package on PyPI).
    #[arg(long, default_value = DEFAULT_ORT_VERSION)]
    version: String,
    /// PyPI JSON API to ask.
    #[arg(long, value_name = "URL", default_value = DEFAULT_PYPI_URL)]
    pypi_url: String,
    /// No progress bars or status lines.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let libs = paths::libs_dir();
    let downloads = embed_fetch::downloads_dir(&paths::cache_dir());
    let expected = embed_fetch::ort_library_path(&libs, &args.version)?;
    let already = expected.is_file();
    let mut config = FetchConfig::default();
    config.quiet = args.quiet;
    let pypi = PypiClient::new(&args.pypi_url, Downloader::new(&config));
    let library = embed_fetch::fetch_ort(&pypi, &args.version, &libs, &downloads)
        .with_context(|| format!("cannot fetch onnx runtime {}", args.version))?;
    if !args.quiet {
        if already {
            eprintln!("onnx runtime {} is already in {}", args.version, library.display());
        } else {
            eprintln!("onnx runtime {} fetched into {}", args.version, library.display());
        }
        eprintln!("to use it: export ORT_DYLIB_PATH={}", library.display());
    }
    print_line(&library.display().to_string())
}

/// Prints a line on stdout; a closed pipe is not an error.
pub fn print_line(line: &str) -> anyhow::Result<()> {
    match writeln!(std::io::stdout(), "{line}") {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
