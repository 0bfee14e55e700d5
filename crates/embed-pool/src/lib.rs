//! embed-pool: the memory-budgeted registry of loaded models (issue 5, not written yet).
//!
//! Its role: load a model on first use and share it between callers, preload a configured
//! list, keep the loaded models' total memory under a budget by evicting the least recently
//! used idle model, and never drop a model a caller still holds. It will know models only
//! through a loader it is given, not through ONNX Runtime or the tokenizer.
