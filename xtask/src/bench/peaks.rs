//! The fp32 GEMM rates each engine family reaches on this machine, measured in the same run as
//! the engines: ONNX Runtime's (`benches/peers/gemm_peak.py`, one-node MatMul graphs) and the
//! native engine's kernels (`embed-runner --gemm-probe`), on the seed models' shapes. The
//! physical limit of a model's throughput is its FLOPs at the higher of the two. Knows nothing
//! of reports.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::Setup;

/// The GEMM peaks of one round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    /// ONNX Runtime's MatMul (GFLOP/s).
    pub onnx: Option<f64>,
    /// The native engine's kernels (GFLOP/s).
    pub native: Option<f64>,
}

impl Peaks {
    /// Measures both; a peak that cannot be measured is left out with a warning.
    pub fn measure(setup: &Setup) -> Self {
        let onnx = setup.python.as_deref().and_then(|python| {
            onnx_peak(python, setup).map_err(|err| eprintln!("bench: warning: ONNX Runtime's GEMM peak: {err:#}")).ok()
        });
        let native = native_peak(setup).map_err(|err| eprintln!("bench: warning: the native GEMM peak: {err:#}")).ok();
        Self { onnx, native }
    }

    /// The higher of the two: what the machine's GEMMs reach.
    pub fn best(&self) -> Option<f64> {
        match (self.onnx, self.native) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

fn peak_of(output: std::process::Output, what: &str) -> anyhow::Result<f64> {
    if !output.status.success() {
        bail!("{what} failed ({})", output.status);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).with_context(|| format!("{what} printed invalid JSON"))?;
    json.get("peak_gflops")
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("{what} printed no peak_gflops"))
}

/// ONNX Runtime's fp32 GEMM peak (GFLOP/s).
fn onnx_peak(python: &Path, setup: &Setup) -> anyhow::Result<f64> {
    let output = Command::new(python)
        .arg(setup.root.join("benches").join("peers").join("gemm_peak.py"))
        .args(["--threads", &setup.threads.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run gemm_peak.py")?;
    peak_of(output, "gemm_peak.py")
}

/// The native engine's fp32 GEMM peak (GFLOP/s).
fn native_peak(setup: &Setup) -> anyhow::Result<f64> {
    let runner =
        setup.root.join("target").join("release").join(format!("embed-runner{}", std::env::consts::EXE_SUFFIX));
    let output = Command::new(runner)
        .args(["--gemm-probe", "--threads", &setup.threads.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run embed-runner --gemm-probe")?;
    peak_of(output, "embed-runner --gemm-probe")
}
