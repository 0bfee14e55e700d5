//! The advice the `embed` binary adds under an error. The libraries say what is wrong; what
//! to do about it depends on how they are used, and here that is the installed `embed`
//! command: it fetches ONNX Runtime and models itself, so the advice names its flags and
//! variables (`--offline`, `HF_ENDPOINT`, `ONNXRUNTIME_LIB_PATH`, …), never a tool of the
//! repository it was built from.

use embed_core::{EmbedError, RuntimeError};
use embed_fetch::FetchError;

use crate::fetch::{ModelFetchFailed, OrtFetchFailed};

/// The advice for `err`, if there is one.
pub fn for_error(err: &anyhow::Error) -> Option<String> {
    // A fetch error wrapping another keeps it boxed: look through the box too.
    let fetch_errors = err.chain().filter_map(|cause| {
        cause.downcast_ref::<FetchError>().or_else(|| cause.downcast_ref::<Box<FetchError>>().map(|boxed| &**boxed))
    });
    let failed = err.chain().find_map(|cause| cause.downcast_ref::<ModelFetchFailed>());
    if let Some(failed) = failed
        && err
            .chain()
            .any(|cause| matches!(cause.downcast_ref::<FetchError>(), Some(FetchError::CheckpointOnly { .. })))
    {
        return Some(format!(
            "the native engine runs the checkpoint's fp32 variant (without --backend onnx); an ONNX file is made \
             from it with Python: in a clone of embed's repository, `cargo xtask fetch-models --model {} \
             --backend onnx` fetches the checkpoint and converts it",
            failed.model
        ));
    }
    if let Some(hint) = fetch_errors.into_iter().find_map(for_fetch) {
        return Some(hint);
    }
    if err.chain().any(|cause| cause.is::<OrtFetchFailed>()) {
        return Some(
            "set EMBED_PYPI_URL (--pypi-url) to a PyPI mirror that serves its JSON API, or point \
             ONNXRUNTIME_LIB_PATH at an ONNX Runtime shared library"
                .to_string(),
        );
    }
    if let Some(failed) = failed {
        return Some(format!(
            "set HF_ENDPOINT to a hub (or mirror) that serves {}, or pass --model a directory holding the model",
            failed.model
        ));
    }
    match err.chain().find_map(|cause| cause.downcast_ref::<EmbedError>())?.cause() {
        EmbedError::ModelNotFetched { .. } | EmbedError::HubModelNotCached { .. } => Some(
            "without --offline (EMBED_OFFLINE, HF_HUB_OFFLINE), embed fetches the model from the hub itself; \
             `embed fetch MODEL` fetches it ahead of time"
                .to_string(),
        ),
        EmbedError::Runtime(RuntimeError::LibraryNotFound { .. }) => Some(
            "point ONNXRUNTIME_LIB_PATH (--onnxruntime-lib) at an ONNX Runtime shared library, or leave it unset \
             and drop --offline (EMBED_OFFLINE) so that embed fetches one from PyPI"
                .to_string(),
        ),
        EmbedError::Runtime(RuntimeError::LibraryUnusable { .. }) => Some(format!(
            "point ONNXRUNTIME_LIB_PATH (or ORT_DYLIB_PATH) at an ONNX Runtime 1.{} or newer, or unset both \
             so that embed finds or fetches one",
            embed_core::REQUIRED_ORT_MINOR
        )),
        EmbedError::NeedsConversion { dir, .. } => Some(format!(
            "convert it in a clone of embed's repository with `cargo xtask convert --from {}`, or run its fp32 \
             variant on the native engine (--backend native)",
            dir.display()
        )),
        EmbedError::MadeByAnotherRecipe { model, .. } => Some(format!(
            "make it again in a clone of embed's repository with `cargo xtask fetch-models --model {model}`, or \
             delete the file so that embed fetches it"
        )),
        EmbedError::ConfiguredDimension { .. } => {
            Some("EMBEDDING_DIMENSION (--embedding-dimension) must be the model's, or unset".to_string())
        }
        _ => None,
    }
}

fn for_fetch(err: &FetchError) -> Option<String> {
    match err {
        FetchError::HttpStatus { status: 401 | 403, .. } => Some(
            "set HF_TOKEN to an access token (of an account that accepted the repository's terms, for a gated one)"
                .to_string(),
        ),
        FetchError::Unverifiable { .. } => Some(
            "pass --allow-unverified (EMBED_ALLOW_UNVERIFIED=1) to accept files the server announces no hash for"
                .to_string(),
        ),
        FetchError::Request { .. } => Some(
            "check the network; HF_ENDPOINT and EMBED_PYPI_URL name mirrors, and --offline with \
             ONNXRUNTIME_LIB_PATH and a model directory needs no network"
                .to_string(),
        ),
        _ => None,
    }
}
