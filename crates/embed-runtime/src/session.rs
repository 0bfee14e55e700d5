//! [`OrtBackend`]: a sentence-embedding transformer run by ONNX Runtime.
//!
//! It checks the model's inputs and outputs when it loads, pads each packed batch into the
//! session's own reusable buffers and hands them to ONNX Runtime without another copy, and
//! serves many threads through a small pool of sessions (ONNX Runtime's `Run` needs exclusive
//! access to a session in the `ort` crate).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::value::TensorRef;

use crate::{
    Backend, BatchOutput, Device, DeviceInUse, OnnxRuntime, OutputKind, PaddedBatch, RuntimeError, TokenBatch,
    release_free_memory,
};

/// ONNX Runtime's graph optimization level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphOptimization {
    /// No graph rewrites.
    Disabled,
    /// Constant folding and redundant node removal.
    Basic,
    /// Basic plus operator fusions (attention, LayerNorm, GELU).
    Extended,
    /// Everything, including layout optimizations.
    #[default]
    All,
}

/// How ONNX Runtime's CPU memory arena behaves (the seed's `ARENA_EXTEND_STRATEGY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArenaStrategy {
    /// ONNX Runtime's arena, growing by powers of two (`kNextPowerOfTwo`, its default).
    #[default]
    NextPowerOfTwo,
    /// One arena shared by the process's sessions, growing by exactly what is asked
    /// (`kSameAsRequested`): less memory held, more allocations.
    SameAsRequested,
    /// No arena: every tensor is allocated and freed on its own; least resident memory.
    Disabled,
}

/// Options of an [`OrtBackend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads inside one operator (`INTRA_OP_THREADS`); `None` lets ONNX Runtime choose
    /// (one per physical core).
    pub intra_op_threads: Option<usize>,
    /// Threads across independent operators (`INTER_OP_THREADS`); more than one turns on
    /// parallel execution.
    pub inter_op_threads: Option<usize>,
    /// Graph optimization level.
    pub optimization: GraphOptimization,
    /// CPU memory arena.
    pub arena: ArenaStrategy,
    /// Where the model runs.
    pub device: Device,
    /// Sessions in the pool, each able to run one batch at a time. With more than one, the
    /// sessions share their pre-packed weights, and the caller runs that many batches at once
    /// ([`Backend::concurrent_runs`]); `intra_op_threads` is then per session.
    pub sessions: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: None,
            inter_op_threads: None,
            optimization: GraphOptimization::All,
            arena: ArenaStrategy::NextPowerOfTwo,
            device: Device::Cpu,
            sessions: 1,
        }
    }
}

/// One session and the buffers its batches are padded into.
struct Slot {
    session: Session,
    padded: PaddedBatch,
}

/// A sentence-embedding model loaded into ONNX Runtime.
pub struct OrtBackend {
    sessions: Vec<Mutex<Slot>>,
    next: AtomicUsize,
    path: PathBuf,
    takes_token_type_ids: bool,
    output_index: usize,
    output_kind: OutputKind,
    hidden_size: Option<usize>,
    device: DeviceInUse,
    /// The ONNX Runtime version, for reports.
    version: String,
}

impl std::fmt::Debug for OrtBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtBackend")
            .field("path", &self.path)
            .field("sessions", &self.sessions.len())
            .field("output_kind", &self.output_kind)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn option_error(message: impl Into<String>) -> impl FnOnce(ort::Error) -> RuntimeError {
    let message = message.into();
    move |source| RuntimeError::InvalidOption { message, source: Some(source.into()) }
}

impl OrtBackend {
    /// Loads the model at `path`.
    pub fn load(runtime: &OnnxRuntime, path: &Path, options: &SessionOptions) -> Result<Self, RuntimeError> {
        if !path.is_file() {
            return Err(RuntimeError::ModelNotFound { path: path.to_path_buf() });
        }
        if options.sessions == 0 {
            return Err(RuntimeError::InvalidOption { message: "sessions must be at least 1".into(), source: None });
        }
        let device = resolve_device(runtime, &options.device)?;
        // Sessions of one model share the weights ONNX Runtime pre-packs for its GEMMs, so a
        // second session costs little more than its unpacked tensors (embedding tables).
        let prepacked = (options.sessions > 1).then(PrepackedWeights::new);
        let mut sessions = Vec::with_capacity(options.sessions);
        for _ in 0..options.sessions {
            sessions.push(build_session(runtime, path, options, &device, prepacked.as_ref())?);
        }
        let first = sessions.first().ok_or_else(|| RuntimeError::InvalidOption {
            message: "sessions must be at least 1".into(),
            source: None,
        })?;
        let unsupported = |message: String| RuntimeError::UnsupportedModel { path: path.to_path_buf(), message };
        let input_names: Vec<&str> = first.inputs().iter().map(|i| i.name()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !input_names.contains(&required) {
                return Err(unsupported(format!("it has no `{required}` input (inputs: {})", input_names.join(", "))));
            }
        }
        if let Some(other) =
            input_names.iter().find(|n| !matches!(**n, "input_ids" | "attention_mask" | "token_type_ids"))
        {
            return Err(unsupported(format!("it takes an input embed cannot feed: `{other}`")));
        }
        let takes_token_type_ids = input_names.contains(&"token_type_ids");
        let (output_index, output_kind, hidden_size) = pick_output(first).map_err(unsupported)?;
        tracing::debug!(path = %path.display(), ?output_kind, takes_token_type_ids, %device, "model loaded");
        Ok(Self {
            sessions: sessions
                .into_iter()
                .map(|session| Mutex::new(Slot { session, padded: PaddedBatch::default() }))
                .collect(),
            next: AtomicUsize::new(0),
            path: path.to_path_buf(),
            takes_token_type_ids,
            output_index,
            output_kind,
            hidden_size,
            device,
            version: runtime.version().to_string(),
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn run_on(&self, slot: &mut Slot, batch: &TokenBatch<'_>) -> Result<BatchOutput, RuntimeError> {
        let Slot { session, padded } = slot;
        padded.fill(batch);
        let shape = [padded.rows, padded.seq_len];
        fn tensor(shape: [usize; 2], values: &[i64]) -> Result<TensorRef<'_, i64>, RuntimeError> {
            TensorRef::from_array_view((shape, values)).map_err(|e| RuntimeError::InvalidBatch(e.to_string()))
        }
        let mut inputs = ort::inputs![
            "input_ids" => tensor(shape, &padded.input_ids)?,
            "attention_mask" => tensor(shape, &padded.attention_mask)?,
        ];
        if self.takes_token_type_ids {
            inputs.push(("token_type_ids".into(), tensor(shape, &padded.token_type_ids)?.into()));
        }
        let outputs = session.run(inputs).map_err(|e| RuntimeError::Inference(e.into()))?;
        let (out_shape, values) =
            outputs[self.output_index].try_extract_tensor::<f32>().map_err(|e| RuntimeError::Inference(e.into()))?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
        match (self.output_kind, dims.as_slice()) {
            (OutputKind::TokenEmbeddings, &[r, s, h]) if r == padded.rows && s == padded.seq_len => {
                Ok(BatchOutput::padded(values.to_vec(), h, batch.lengths, s))
            }
            (OutputKind::Pooled, &[r, h]) if r == padded.rows => Ok(BatchOutput::pooled(values.to_vec(), h, r)),
            _ => Err(RuntimeError::UnsupportedModel {
                path: self.path.clone(),
                message: format!(
                    "output shape {dims:?} does not match a batch of {} x {}",
                    padded.rows, padded.seq_len
                ),
            }),
        }
    }
}

impl Drop for OrtBackend {
    fn drop(&mut self) {
        // Free the sessions (weights, arenas) first, then hand the freed pages back to the
        // operating system: glibc keeps them otherwise, and a process that loads and evicts
        // models would see its resident memory only grow.
        self.sessions.clear();
        release_free_memory();
    }
}

impl Backend for OrtBackend {
    fn run(&self, batch: &TokenBatch<'_>) -> Result<BatchOutput, RuntimeError> {
        batch.check()?;
        if batch.texts() == 0 {
            let hidden = self.hidden_size.unwrap_or(0);
            return Ok(match self.output_kind {
                OutputKind::TokenEmbeddings => BatchOutput::packed(Vec::new(), hidden, &[]),
                OutputKind::Pooled => BatchOutput::pooled(Vec::new(), hidden, 0),
            });
        }
        // Take a free session where there is one, else wait for the next in turn.
        for slot in &self.sessions {
            if let Ok(mut slot) = slot.try_lock() {
                return self.run_on(&mut slot, batch);
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        let mut slot = self.sessions[turn].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.run_on(&mut slot, batch)
    }

    fn hidden_size(&self) -> Option<usize> {
        self.hidden_size
    }

    fn device(&self) -> &DeviceInUse {
        &self.device
    }

    fn engine(&self) -> String {
        format!("onnxruntime {}", self.version)
    }

    fn pads(&self) -> bool {
        true
    }

    fn concurrent_runs(&self) -> usize {
        self.sessions.len()
    }
}

fn resolve_device(runtime: &OnnxRuntime, device: &Device) -> Result<DeviceInUse, RuntimeError> {
    match device {
        Device::Cpu => Ok(DeviceInUse::Cpu),
        Device::CoreMl { fallback_to_cpu, .. } => {
            if runtime.has_coreml() {
                return Ok(DeviceInUse::CoreMl);
            }
            let reason = format!(
                "the ONNX Runtime library {} (version {}) was built without the CoreML execution provider; CoreML needs macOS and ONNX Runtime's macOS build",
                runtime.path().display(),
                runtime.version()
            );
            if *fallback_to_cpu {
                tracing::warn!(%reason, "CoreML requested but unavailable; the CPU runs the model");
                Ok(DeviceInUse::CpuFallback { reason })
            } else {
                Err(RuntimeError::DeviceUnavailable { device: "CoreML".into(), reason })
            }
        }
    }
}

fn build_session(
    runtime: &OnnxRuntime,
    path: &Path,
    options: &SessionOptions,
    device: &DeviceInUse,
    prepacked: Option<&PrepackedWeights>,
) -> Result<Session, RuntimeError> {
    let level = match options.optimization {
        GraphOptimization::Disabled => GraphOptimizationLevel::Disable,
        GraphOptimization::Basic => GraphOptimizationLevel::Level1,
        GraphOptimization::Extended => GraphOptimizationLevel::Level2,
        GraphOptimization::All => GraphOptimizationLevel::All,
    };
    let mut builder = Session::builder(&runtime.environment)
        .map_err(option_error("cannot create a session"))?
        .with_optimization_level(level)
        .map_err(|e| option_error("graph optimization level")(e.into()))?;
    if let Some(threads) = options.intra_op_threads {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| option_error(format!("intra-op threads = {threads}"))(e.into()))?;
    }
    if let Some(threads) = options.inter_op_threads {
        builder = builder
            .with_inter_threads(threads)
            .map_err(|e| option_error(format!("inter-op threads = {threads}"))(e.into()))?;
        if threads > 1 {
            builder =
                builder.with_parallel_execution(true).map_err(|e| option_error("parallel execution")(e.into()))?;
        }
    }
    if options.arena == ArenaStrategy::SameAsRequested {
        runtime.ensure_same_as_requested_arena()?;
        builder = builder.with_env_allocators().map_err(|e| option_error("environment allocators")(e.into()))?;
    }
    let cpu = ort::ep::CPU::default()
        .with_arena_allocator(options.arena != ArenaStrategy::Disabled)
        .build()
        .error_on_failure();
    let providers = match (device, &options.device) {
        (DeviceInUse::CoreMl, Device::CoreMl { options: coreml, .. }) => {
            vec![coreml.to_ort().build().error_on_failure(), cpu]
        }
        _ => vec![cpu],
    };
    builder = builder.with_execution_providers(providers).map_err(|e| option_error("execution providers")(e.into()))?;
    if let Some(prepacked) = prepacked {
        builder = builder
            .with_prepacked_weights(prepacked)
            .map_err(|e| option_error("shared pre-packed weights")(e.into()))?;
    }
    builder
        .commit_from_file(path)
        .map_err(|source| RuntimeError::ModelLoad { path: path.to_path_buf(), source: source.into() })
}

/// Picks the output to read: token embeddings by name or shape, else a pooled output.
fn pick_output(session: &Session) -> Result<(usize, OutputKind, Option<usize>), String> {
    let outputs = session.outputs();
    let rank_and_width = |index: usize| {
        let shape = outputs[index].dtype().tensor_shape();
        (
            shape.map(|s| s.len()),
            shape.and_then(|s| s.last().copied()).and_then(|d| usize::try_from(d).ok()).filter(|&d| d > 0),
        )
    };
    let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
    for wanted in ["last_hidden_state", "token_embeddings"] {
        if let Some(index) = names.iter().position(|n| *n == wanted) {
            return Ok((index, OutputKind::TokenEmbeddings, rank_and_width(index).1));
        }
    }
    if let Some(index) = names.iter().position(|n| *n == "sentence_embedding") {
        return Ok((index, OutputKind::Pooled, rank_and_width(index).1));
    }
    if names.len() == 1 {
        return match rank_and_width(0) {
            (Some(3), width) => Ok((0, OutputKind::TokenEmbeddings, width)),
            (Some(2), width) => Ok((0, OutputKind::Pooled, width)),
            _ => Err(format!("its only output `{}` is neither [batch, tokens, hidden] nor [batch, hidden]", names[0])),
        };
    }
    Err(format!(
        "none of its outputs ({}) is `last_hidden_state`, `token_embeddings` or `sentence_embedding`",
        names.join(", ")
    ))
}
