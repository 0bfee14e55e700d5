//! Which engine runs a model, decided in one place: [`BackendChoice`] (a setting, in
//! `config.rs`) is what the caller asks for, [`choose_engine`] what a model's files and the
//! device allow.
//!
//! `auto` (the default) takes the native engine wherever it runs the model and variant (a
//! `config.json` of an architecture it implements and a `model.safetensors`, the fp32 variant,
//! the CPU), because it is the faster engine there (docs/benchmarks.md), and ONNX Runtime
//! otherwise (int8 and optimized variants, CoreML, models with only an ONNX file). Asking for
//! an engine that cannot run the model is an error naming what is missing, never a silent
//! switch. ONNX Runtime's library is loaded the first time a model needs it ([`OrtLoader`]),
//! so a process whose models all run natively never looks for it. This file knows nothing of
//! how either engine runs.

use std::path::Path;
use std::sync::Mutex;

use embed_runtime::{Backend, Device, NativeBackend, OnnxRuntime, OrtBackend, RuntimeError, SessionOptions};

use crate::EmbedError;
use crate::config::{BackendChoice, OrtLibrary};
use crate::files::{ModelFiles, has_checkpoint};

/// The engine that runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// embed's own engine, from `model.safetensors`.
    Native,
    /// ONNX Runtime, from the variant's ONNX file.
    Onnx,
}

impl Engine {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Onnx => "onnx",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Native => "the native engine",
            Self::Onnx => "ONNX Runtime",
        })
    }
}

/// Why the native engine cannot run a model.
#[derive(Debug)]
struct NativeRefusal {
    reason: String,
    source: Option<Box<RuntimeError>>,
}

impl NativeRefusal {
    fn because(reason: String) -> Self {
        Self { reason, source: None }
    }

    fn into_error(self, model: &str) -> EmbedError {
        EmbedError::NativeUnsupported { model: model.to_string(), reason: self.reason, source: self.source }
    }
}

/// Why the native engine cannot run the `variant` of the model in `dir`, or `None` when it can.
fn native_unsupported_in(dir: &Path, variant: &str, on_coreml: bool) -> Option<NativeRefusal> {
    if on_coreml {
        return Some(NativeRefusal::because("CoreML was asked for, and the native engine runs on the CPU only".into()));
    }
    if variant != embed_manifest::DEFAULT_VARIANT {
        return Some(NativeRefusal::because(format!(
            "the `{variant}` variant is an ONNX file; the native engine runs the fp32 checkpoint"
        )));
    }
    if !has_checkpoint(dir) {
        return Some(NativeRefusal::because(format!(
            "{} has no checkpoint (config.json and model.safetensors, or a sharded one)",
            dir.display()
        )));
    }
    match embed_runtime::read_native_config(dir) {
        Ok(_) => None,
        Err(error) => Some(NativeRefusal {
            reason: format!("its {} is not one it runs", dir.join("config.json").display()),
            source: Some(Box::new(error.into())),
        }),
    }
}

/// The engine `auto` runs the `variant` of the model in `dir` on (its ONNX file `onnx`), if
/// any can: what `embed models` shows.
pub(crate) fn auto_engine(dir: &Path, variant: &str, onnx: &Path) -> Option<Engine> {
    if native_unsupported_in(dir, variant, false).is_none() {
        Some(Engine::Native)
    } else if onnx.is_file() {
        Some(Engine::Onnx)
    } else {
        None
    }
}

/// The engine for `files` under `choice`; `on_coreml` when the caller asked for CoreML.
pub fn choose_engine(files: &ModelFiles, choice: BackendChoice, on_coreml: bool) -> Result<Engine, EmbedError> {
    let onnx_present = files.onnx.is_file();
    let native_refusal = || native_unsupported_in(&files.dir, &files.variant, on_coreml);
    match choice {
        BackendChoice::Native => match native_refusal() {
            None => Ok(Engine::Native),
            Some(refusal) => Err(refusal.into_error(&files.name)),
        },
        BackendChoice::Onnx if onnx_present => Ok(Engine::Onnx),
        BackendChoice::Onnx if has_checkpoint(&files.dir) => Err(EmbedError::NeedsConversion {
            model: files.name.clone(),
            dir: files.dir.clone(),
            onnx: files.onnx.strip_prefix(&files.dir).unwrap_or(&files.onnx).display().to_string(),
        }),
        BackendChoice::Onnx => Err(EmbedError::OnnxFileMissing { model: files.name.clone(), path: files.onnx.clone() }),
        BackendChoice::Auto => match native_refusal() {
            None => Ok(Engine::Native),
            Some(_) if onnx_present => Ok(Engine::Onnx),
            Some(mut refusal) => {
                refusal.reason = format!("{}, and there is no ONNX file ({})", refusal.reason, files.onnx.display());
                Err(refusal.into_error(&files.name))
            }
        },
    }
}

/// ONNX Runtime, loaded the first time a model needs it.
#[derive(Debug)]
pub(crate) struct OrtLoader {
    library: OrtLibrary,
    loaded: Mutex<Option<&'static OnnxRuntime>>,
}

impl OrtLoader {
    pub fn new(library: OrtLibrary) -> Self {
        Self { library, loaded: Mutex::new(None) }
    }

    /// The library, loaded now if no model needed it before.
    pub fn get(&self) -> Result<&'static OnnxRuntime, EmbedError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(runtime) = *loaded {
            return Ok(runtime);
        }
        let runtime = OnnxRuntime::locate_and_load(self.library.path.as_deref(), &self.library.search_dirs)?;
        *loaded = Some(runtime);
        Ok(runtime)
    }

    /// The library, where a model has loaded it.
    pub fn loaded(&self) -> Option<&'static OnnxRuntime> {
        *self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How the engines load a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EngineOptions {
    /// Which engine.
    pub choice: BackendChoice,
    /// ONNX Runtime's session options (its device says whether CoreML was asked for).
    pub session: SessionOptions,
    /// Threads of one native forward pass; `None`: one per CPU this process may use (affinity and cgroup quota).
    pub native_threads: Option<usize>,
}

/// Refuses an ONNX file that embed's conversion made by another recipe than this build's.
fn check_recipe(files: &ModelFiles) -> Result<(), EmbedError> {
    match embed_manifest::provenance(&files.dir, &files.onnx) {
        embed_manifest::Provenance::MadeByAnotherRecipe { recorded } => Err(EmbedError::MadeByAnotherRecipe {
            model: files.name.clone(),
            onnx: files.onnx.clone(),
            recorded,
            current: embed_manifest::conversion_recipe().to_string(),
        }),
        _ => Ok(()),
    }
}

/// Loads `files` into the engine `options` choose.
pub(crate) fn load_backend(
    files: &ModelFiles,
    options: &EngineOptions,
    ort: &OrtLoader,
) -> Result<Box<dyn Backend>, EmbedError> {
    let on_coreml = matches!(options.session.device, Device::CoreMl { .. });
    let engine = choose_engine(files, options.choice, on_coreml)?;
    tracing::debug!(model = %files.name, %engine, "engine chosen");
    Ok(match engine {
        Engine::Native => Box::new(NativeBackend::load(&files.dir, options.native_threads)?),
        Engine::Onnx => {
            check_recipe(files)?;
            Box::new(OrtBackend::load(ort.get()?, &files.onnx, &options.session)?)
        }
    })
}
