//! What the hub offers of a model at its pinned revision: the ONNX files asked for, or else a
//! checkpoint (`model.safetensors` and configs, as sentence-transformers saves a model) that the
//! caller must convert, or neither. [`HubClient::plan`] asks with HEAD requests only;
//! [`HubClient::fetch_checkpoint`] downloads the checkpoint. Converting is the caller's: this
//! file must not know how.

use std::path::Path;

use embed_manifest::{ModelSpec, SupportFiles};

use crate::{FetchError, HubClient, HubFetch};

/// What the hub has of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubPlan {
    /// Every ONNX file asked for: fetch them with [`HubClient::fetch_model`].
    Onnx,
    /// Not every ONNX file, but the checkpoint: fetch it with [`HubClient::fetch_checkpoint`]
    /// and convert it.
    Checkpoint {
        /// The ONNX files the repository lacks.
        missing_onnx: Vec<String>,
    },
}

impl HubClient {
    /// Whether the repository at the model's pinned revision has each of `onnx_files`, else
    /// the required files of `checkpoint`; an error (`HubFileMissing` for the first missing
    /// ONNX file) when it has neither.
    pub fn plan(
        &self,
        model: &ModelSpec,
        onnx_files: &[impl AsRef<str>],
        checkpoint: &SupportFiles,
    ) -> Result<HubPlan, FetchError> {
        let (repo, revision) = (model.hub_repo.as_str(), model.revision.as_str());
        let mut missing_onnx = Vec::new();
        let mut first_missing = None;
        for file in onnx_files {
            match self.file_info(repo, revision, file.as_ref()) {
                Ok(_) => {}
                Err(FetchError::NotFound { url }) => {
                    first_missing.get_or_insert((file.as_ref().to_string(), url));
                    missing_onnx.push(file.as_ref().to_string());
                }
                Err(err) => return Err(err),
            }
        }
        let Some((path, url)) = first_missing else {
            return Ok(HubPlan::Onnx);
        };
        for file in &checkpoint.required {
            match self.file_info(repo, revision, file) {
                Ok(_) => {}
                Err(FetchError::NotFound { .. }) => {
                    return Err(FetchError::HubFileMissing {
                        repo: repo.to_string(),
                        revision: revision.to_string(),
                        path,
                        url,
                    });
                }
                Err(err) => return Err(err),
            }
        }
        Ok(HubPlan::Checkpoint { missing_onnx })
    }

    /// Fetches a model's checkpoint into `model_dir`: the support files and the checkpoint
    /// files (required ones must exist, optional ones the repository lacks are skipped), no
    /// ONNX file.
    pub fn fetch_checkpoint(
        &self,
        model: &ModelSpec,
        support: &SupportFiles,
        checkpoint: &SupportFiles,
        model_dir: &Path,
    ) -> Result<HubFetch, FetchError> {
        let files = SupportFiles {
            required: support.required.iter().chain(&checkpoint.required).cloned().collect(),
            optional: support.optional.iter().chain(&checkpoint.optional).cloned().collect(),
        };
        self.fetch_model(model, &files, &[] as &[&str], model_dir)
    }
}
