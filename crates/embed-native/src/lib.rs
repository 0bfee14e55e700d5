//! embed-native: embed's own CPU engine for sentence-embedding encoders, in pure Rust.
//!
//! [`NativeModel`] loads a Hugging Face checkpoint (`config.json` and `model.safetensors`, or a
//! sharded one: `model.safetensors.index.json` and its shards) of the BERT, RoBERTa/XLM-RoBERTa,
//! MPNet or ModernBERT family, of the Qwen3 and Qwen2 decoders or of Gemma3 (bidirectional, as
//! EmbeddingGemma) and runs packed batches: the tokens of every sequence in one matrix with no
//! padding, each linear layer one GEMM over all of them with its bias, GELU, a gated GELU or SiLU,
//! or residual fused, attention per sequence on its own length (rotary positions, sliding windows
//! and causal masks inside the fused attention kernel). Weights are packed once at load for the CPU's
//! instruction set (AVX-512, AVX2+FMA, NEON, or plain Rust, detected at run time); buffers are
//! reused from call to call. [`checkpoint_present`] and [`checkpoint_bytes`] tell other crates
//! about a directory's checkpoint without loading it.
//!
//! It knows nothing of tokenizers, pooling, ONNX Runtime or where models come from.

mod attention;
mod checkpoint;
mod config;
mod encoder;
mod error;
mod kernels;
mod model;
mod probe;
mod rotary;
pub mod testing;
mod threads;
mod weights;

use std::path::Path;
use std::sync::Mutex;

pub use checkpoint::{CHECKPOINT_FILES, checkpoint_bytes, checkpoint_present};
pub use config::{Architecture, MODEL_TYPES, ModelConfig, Rotary, parse_config, read_config};
pub use encoder::PackedBatch;
pub use error::NativeError;
pub use kernels::{Gelu, Isa};
pub use probe::{InstructionRate, gemm_gflops, instruction_rates};

use encoder::Scratch;
use model::Model;
use threads::Threads;

/// How a model is run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NativeOptions {
    /// Threads one forward pass uses; `None`: one per core.
    pub threads: Option<usize>,
}

/// A loaded model. `&self` methods; `Send + Sync`: concurrent calls share the engine's
/// threads. A call alone splits its work among all of them; calls at the same time each run
/// on a thread of their own (batches side by side, no synchronization between them), so
/// callers with many batches should make [`NativeModel::threads`] calls at once.
#[derive(Debug)]
pub struct NativeModel {
    model: Model,
    threads: Threads,
    /// Buffers of finished calls, taken by the next ones.
    scratch: Mutex<Vec<Scratch>>,
}

impl NativeModel {
    /// Loads the checkpoint in `dir`: `config.json` and `model.safetensors`, or, where that
    /// is absent, `model.safetensors.index.json` and every shard it names.
    pub fn load(dir: &Path, options: &NativeOptions) -> Result<Self, NativeError> {
        let width =
            options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
        let model = Model::load(dir, Isa::detect())?;
        let threads = Threads::new(width).map_err(NativeError::Threads)?;
        Ok(Self { model, threads, scratch: Mutex::new(Vec::new()) })
    }

    /// What `config.json` says.
    pub fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    /// The instruction set the kernels run on.
    pub fn isa(&self) -> Isa {
        self.model.isa
    }

    /// Threads the engine runs on, the caller's included.
    pub fn threads(&self) -> usize {
        self.threads.width()
    }

    /// Bytes the packed weights hold (the memory-mapped word embedding table not counted).
    pub fn resident_bytes(&self) -> usize {
        self.model.resident_bytes()
    }

    /// Runs `batch` and hands `read` the last hidden state: one row of `hidden` floats per
    /// token, sequence after sequence, every value finite ([`NativeError::NonFinite`] if not).
    pub fn forward<R>(&self, batch: &PackedBatch<'_>, read: impl FnOnce(&[f32]) -> R) -> Result<R, NativeError> {
        self.model.check(batch)?;
        let mut scratch =
            self.scratch.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop().unwrap_or_default();
        let result = self.threads.pass(|threads| {
            let hidden = self.model.forward(batch, threads, &mut scratch);
            match hidden.iter().position(|v| !v.is_finite()) {
                None => Ok(read(hidden)),
                Some(at) => Err(non_finite(batch.lengths, at / self.model.config.hidden)),
            }
        });
        self.scratch.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(scratch);
        result
    }
}

/// The error for a non-finite value in row `row` of a batch of sequences of `lengths`.
fn non_finite(lengths: &[usize], row: usize) -> NativeError {
    let mut start = 0;
    for (sequence, &len) in lengths.iter().enumerate() {
        if row < start + len {
            return NativeError::NonFinite { sequence, token: row - start };
        }
        start += len;
    }
    NativeError::NonFinite { sequence: lengths.len(), token: 0 }
}
