//! Which engine will run a model: the one place that decides.
//!
//! Today the answer is ONNX Runtime, whenever the model directory has the ONNX file asked for.
//! A directory that holds only a checkpoint (`model.safetensors` and `config.json`, as
//! sentence-transformers saves a model) has no engine yet: it must be converted to ONNX first,
//! which takes Python. A native engine that loads checkpoints itself would be chosen here, and
//! nowhere else. This file looks at which files exist; it loads nothing.

use std::path::Path;

/// An inference engine embed can run a model on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    /// ONNX Runtime, on the model's ONNX file.
    OnnxRuntime,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::OnnxRuntime => "ONNX Runtime",
        })
    }
}

/// Why no engine can run a model directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoEngine {
    /// A checkpoint without the ONNX file: it needs converting.
    CheckpointOnly,
    /// Neither an ONNX file nor a checkpoint.
    NoModelFiles,
}

/// The engine that will run the model in `dir` from its ONNX file `onnx`.
pub(crate) fn engine_for(dir: &Path, onnx: &Path) -> Result<Engine, NoEngine> {
    if onnx.is_file() {
        Ok(Engine::OnnxRuntime)
    } else if has_checkpoint(dir) {
        Err(NoEngine::CheckpointOnly)
    } else {
        Err(NoEngine::NoModelFiles)
    }
}

/// Whether `dir` holds a transformer checkpoint (`model.safetensors` and `config.json`).
pub(crate) fn has_checkpoint(dir: &Path) -> bool {
    dir.join("model.safetensors").is_file() && dir.join("config.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_runs_on_onnx_runtime_and_a_checkpoint_alone_needs_converting() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("onnx").join("model.onnx");
        assert_eq!(engine_for(dir.path(), &onnx), Err(NoEngine::NoModelFiles));
        std::fs::write(dir.path().join("model.safetensors"), b"weights").unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        assert_eq!(engine_for(dir.path(), &onnx), Err(NoEngine::CheckpointOnly));
        std::fs::create_dir_all(onnx.parent().unwrap()).unwrap();
        std::fs::write(&onnx, b"graph").unwrap();
        assert_eq!(engine_for(dir.path(), &onnx), Ok(Engine::OnnxRuntime));
        assert_eq!(Engine::OnnxRuntime.to_string(), "ONNX Runtime");
    }
}
