//! Where a model runs: the CPU, or CoreML on Apple platforms, and CoreML's real options.
//!
//! CoreML is compiled on every platform; where the loaded ONNX Runtime lacks it (Linux,
//! Windows), asking for it is an error, or, when the caller allowed fallback, a logged warning
//! and a [`DeviceInUse`] that says the CPU runs the model. Never a silent fallback.

/// Which hardware CoreML may use (`MLComputeUnits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoreMlComputeUnits {
    /// CPU, GPU and Neural Engine, as CoreML sees fit.
    #[default]
    All,
    /// CPU and the Neural Engine.
    CpuAndNeuralEngine,
    /// CPU and GPU (Metal).
    CpuAndGpu,
    /// CPU only.
    CpuOnly,
}

/// The CoreML model format the execution provider compiles to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoreMlModelFormat {
    /// ML Program (Core ML 5+, macOS 12+): more operators, fp16 on GPU/ANE.
    #[default]
    MlProgram,
    /// The older NeuralNetwork format (Core ML 3+).
    NeuralNetwork,
}

/// CoreML execution provider options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoreMlOptions {
    /// Hardware CoreML may use.
    pub compute_units: CoreMlComputeUnits,
    /// Model format.
    pub model_format: CoreMlModelFormat,
    /// Where CoreML caches compiled models between runs.
    pub model_cache_dir: Option<std::path::PathBuf>,
    /// Only hand CoreML inputs of static shape (pad batches to a fixed shape first).
    pub require_static_shapes: bool,
}

/// Where the caller asks the model to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// CoreML (Apple). `fallback_to_cpu`: when CoreML is not available, log a warning and run
    /// on the CPU instead of failing.
    CoreMl {
        /// CoreML options.
        options: CoreMlOptions,
        /// Whether the CPU may run the model when CoreML cannot.
        fallback_to_cpu: bool,
    },
}

/// Where a model actually runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceInUse {
    /// The CPU provider, as asked.
    Cpu,
    /// CoreML, with the CPU provider for operators CoreML lacks.
    CoreMl,
    /// The CPU provider, because CoreML was asked for but is not available.
    CpuFallback {
        /// Why CoreML could not be used.
        reason: String,
    },
}

impl std::fmt::Display for DeviceInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceInUse::Cpu => f.write_str("cpu"),
            DeviceInUse::CoreMl => f.write_str("coreml"),
            DeviceInUse::CpuFallback { reason } => write!(f, "cpu (coreml unavailable: {reason})"),
        }
    }
}

impl CoreMlOptions {
    pub(crate) fn to_ort(&self) -> ort::ep::CoreML {
        use ort::ep::coreml::{ComputeUnits, ModelFormat};
        let units = match self.compute_units {
            CoreMlComputeUnits::All => ComputeUnits::All,
            CoreMlComputeUnits::CpuAndNeuralEngine => ComputeUnits::CPUAndNeuralEngine,
            CoreMlComputeUnits::CpuAndGpu => ComputeUnits::CPUAndGPU,
            CoreMlComputeUnits::CpuOnly => ComputeUnits::CPUOnly,
        };
        let format = match self.model_format {
            CoreMlModelFormat::MlProgram => ModelFormat::MLProgram,
            CoreMlModelFormat::NeuralNetwork => ModelFormat::NeuralNetwork,
        };
        let mut ep = ort::ep::CoreML::default()
            .with_compute_units(units)
            .with_model_format(format)
            .with_static_input_shapes(self.require_static_shapes);
        if let Some(dir) = &self.model_cache_dir {
            ep = ep.with_model_cache_dir(dir.display());
        }
        ep
    }
}
