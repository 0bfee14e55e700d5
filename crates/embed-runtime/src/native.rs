//! [`NativeBackend`]: embed's own engine (`embed-native`) behind the [`Backend`] seam. It runs
//! the packed batch as it is, with no padding, and needs no ONNX Runtime library.

use std::path::Path;

use embed_native::{NativeModel, NativeOptions, PackedBatch};

use crate::{Backend, BatchOutput, DeviceInUse, RuntimeError, TokenBatch};

/// A Hugging Face checkpoint (`config.json`, `model.safetensors`) run by the native engine.
#[derive(Debug)]
pub struct NativeBackend {
    /// Dropped before the freed memory is handed back (see `Drop`).
    model: Option<NativeModel>,
}

impl Drop for NativeBackend {
    fn drop(&mut self) {
        self.model = None;
        crate::release_free_memory();
    }
}

impl NativeBackend {
    /// Loads the checkpoint in `dir`, running each batch on `threads` threads (`None`: one
    /// per core).
    pub fn load(dir: &Path, threads: Option<usize>) -> Result<Self, RuntimeError> {
        let mut options = NativeOptions::default();
        options.threads = threads;
        Ok(Self { model: Some(NativeModel::load(dir, &options)?) })
    }

    /// Bytes the packed weights hold.
    pub fn resident_bytes(&self) -> usize {
        self.model().resident_bytes()
    }

    fn model(&self) -> &NativeModel {
        self.model.as_ref().expect("the model lives until the backend is dropped")
    }
}

impl Backend for NativeBackend {
    fn run(&self, batch: &TokenBatch<'_>) -> Result<BatchOutput, RuntimeError> {
        batch.check()?;
        let hidden = self.model().config().hidden;
        if batch.texts() == 0 {
            return Ok(BatchOutput::packed(Vec::new(), hidden, &[]));
        }
        let packed = PackedBatch { ids: batch.ids, type_ids: batch.type_ids, lengths: batch.lengths };
        let values = self.model().forward(&packed, <[f32]>::to_vec)?;
        Ok(BatchOutput::packed(values, hidden, batch.lengths))
    }

    fn hidden_size(&self) -> Option<usize> {
        Some(self.model().config().hidden)
    }

    fn device(&self) -> &DeviceInUse {
        &DeviceInUse::Cpu
    }

    fn engine(&self) -> String {
        format!("native {}", self.model().isa().name())
    }

    fn pads(&self) -> bool {
        false
    }

    /// One batch per engine thread: batches side by side beat one batch split across the
    /// threads when there are many (see `embed_native::NativeModel`).
    fn concurrent_runs(&self) -> usize {
        self.model().threads()
    }
}
