//! A Dense module after pooling, as sentence-transformers' `Dense`:
//! `activation(weight · x + bias)`, its weights read from the module folder's
//! `model.safetensors` (`linear.weight`, `linear.bias`, float32).
//!
//! Its configuration is read by `sentence_transformers.rs`; this file loads and applies the
//! weights and knows nothing of tokenizers or ONNX Runtime.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::EmbedError;
use crate::sentence_transformers::{Activation, DenseSpec};

/// A loaded Dense layer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DenseLayer {
    /// `out_features` rows of `in_features` values.
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    in_features: usize,
    out_features: usize,
    activation: Activation,
}

impl DenseLayer {
    /// Loads the weights of `spec` from its folder's `model.safetensors`, checked against the
    /// shapes its config states.
    pub(crate) fn load(spec: &DenseSpec) -> Result<Self, EmbedError> {
        let path = spec.dir.join("model.safetensors");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing_weights(&spec.dir)),
            Err(source) => return Err(EmbedError::Io { path, source }),
        };
        let invalid = |message: String| EmbedError::ModelConfig { path: path.clone(), message };
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| invalid(format!("not a safetensors file: {e}")))?;
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>, EmbedError> {
            let tensor = tensors.tensor(name).map_err(|_| {
                let mut found = tensors.names();
                found.sort_unstable();
                invalid(format!("no tensor `{name}`; found {}", found.join(", ")))
            })?;
            if tensor.shape() != shape {
                return Err(invalid(format!(
                    "`{name}` has shape {:?}, expected {shape:?} (out_features x in_features of its config.json)",
                    tensor.shape()
                )));
            }
            if tensor.dtype() != Dtype::F32 {
                return Err(invalid(format!("`{name}` holds {:?} values, expected F32", tensor.dtype())));
            }
            Ok(tensor.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let weight = read("linear.weight", &[spec.out_features, spec.in_features])?;
        let bias = if spec.bias { Some(read("linear.bias", &[spec.out_features])?) } else { None };
        Ok(Self {
            weight,
            bias,
            in_features: spec.in_features,
            out_features: spec.out_features,
            activation: spec.activation,
        })
    }

    /// Width of the input.
    pub(crate) fn in_features(&self) -> usize {
        self.in_features
    }

    /// Width of the output.
    pub(crate) fn out_features(&self) -> usize {
        self.out_features
    }

    /// `activation(weight · input + bias)`; `input` has `in_features` values.
    pub(crate) fn apply(&self, input: &[f32]) -> Vec<f32> {
        debug_assert_eq!(input.len(), self.in_features);
        self.weight
            .chunks_exact(self.in_features)
            .enumerate()
            .map(|(row, weights)| {
                let sum: f32 = weights.iter().zip(input).map(|(w, x)| w * x).sum();
                let value = sum + self.bias.as_ref().map_or(0.0, |bias| bias[row]);
                match self.activation {
                    Activation::Identity => value,
                    Activation::Tanh => value.tanh(),
                    Activation::Relu => value.max(0.0),
                    Activation::Sigmoid => 1.0 / (1.0 + (-value).exp()),
                }
            })
            .collect()
    }
}

/// The error for a Dense folder without `model.safetensors`, saying whether it has the
/// PyTorch file instead.
fn missing_weights(dir: &Path) -> EmbedError {
    let pickle = dir.join("pytorch_model.bin");
    let message = if pickle.is_file() {
        "missing: the Dense module's weights are only in pytorch_model.bin, which embed does not read \
         (a Python pickle); save the model again with a recent sentence-transformers, which writes model.safetensors"
    } else {
        "missing: the Dense module's weights are expected here"
    };
    EmbedError::ModelConfig { path: dir.join("model.safetensors"), message: message.to_string() }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use safetensors::tensor::TensorView;

    use super::*;

    fn spec(dir: &Path, bias: bool, activation: Activation) -> DenseSpec {
        DenseSpec { dir: dir.to_path_buf(), in_features: 2, out_features: 3, bias, activation }
    }

    fn write(dir: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
        let bytes: Vec<Vec<u8>> =
            tensors.iter().map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
        let views: HashMap<String, TensorView<'_>> = tensors
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), data)| {
                (name.to_string(), TensorView::new(Dtype::F32, shape.clone(), data).expect("a tensor view"))
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).expect("write safetensors");
    }

    #[test]
    fn applies_weight_bias_and_activation() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("linear.weight", vec![3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, -1.0]),
                ("linear.bias", vec![3], vec![0.5, 0.0, -1.0]),
            ],
        );
        let layer = DenseLayer::load(&spec(dir.path(), true, Activation::Identity)).unwrap();
        assert_eq!(layer.apply(&[2.0, 3.0]), [2.5, 3.0, -2.0]);
        let relu = DenseLayer::load(&spec(dir.path(), true, Activation::Relu)).unwrap();
        assert_eq!(relu.apply(&[2.0, 3.0]), [2.5, 3.0, 0.0]);
        let tanh = DenseLayer::load(&spec(dir.path(), false, Activation::Tanh)).unwrap();
        assert_eq!(tanh.apply(&[2.0, 3.0]), [2f32.tanh(), 3f32.tanh(), (-1f32).tanh()]);
        let sigmoid = DenseLayer::load(&spec(dir.path(), false, Activation::Sigmoid)).unwrap();
        assert!((sigmoid.apply(&[0.0, 0.0])[0] - 0.5).abs() < 1e-7);
    }

    #[test]
    fn misshapen_or_missing_weights_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("linear.weight", vec![2, 3], vec![0.0; 6]), ("linear.bias", vec![3], vec![0.0; 3])]);
        let err = DenseLayer::load(&spec(dir.path(), true, Activation::Tanh)).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "`linear.weight` has shape [2, 3], expected [3, 2] (out_features x in_features of its config.json)"
            ),
            "{err}"
        );
        write(dir.path(), &[("linear.weight", vec![3, 2], vec![0.0; 6])]);
        let err = DenseLayer::load(&spec(dir.path(), true, Activation::Tanh)).unwrap_err().to_string();
        assert!(err.ends_with("no tensor `linear.bias`; found linear.weight"), "{err}");
        std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
        let err = DenseLayer::load(&spec(dir.path(), true, Activation::Tanh)).unwrap_err().to_string();
        assert!(err.contains("not a safetensors file"), "{err}");
        std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
        std::fs::write(dir.path().join("pytorch_model.bin"), b"pickle").unwrap();
        let err = DenseLayer::load(&spec(dir.path(), true, Activation::Tanh)).unwrap_err().to_string();
        assert!(err.contains("weights are only in pytorch_model.bin, which embed does not read"), "{err}");
    }
}
