//! What sentence-transformers saved beside the transformer in a model directory, in both eras
//! of its files: which modules run after the transformer (`modules.json`, each module's
//! `config.json`) and the model's prompts (`config_sentence_transformers.json`).
//!
//! - `modules.json` names its modules by their Python class, old
//!   (`sentence_transformers.models.Pooling`) or new
//!   (`sentence_transformers.sentence_transformer.modules.pooling.Pooling`,
//!   `sentence_transformers.base.modules.dense.Dense`): the class name decides. embed applies a
//!   `Transformer` at the top of the directory, then `Pooling`, then any `Dense` modules, then
//!   an optional trailing `Normalize`; any other module is an error naming it.
//! - A Pooling `config.json` is old (`pooling_mode_mean_tokens: true`,
//!   `word_embedding_dimension`) or new (`pooling_mode: "mean"`, `embedding_dimension`,
//!   `include_prompt`). No mode at all means mean, as sentence-transformers reads it.
//! - A Dense `config.json` gives `in_features`, `out_features`, `bias` and
//!   `activation_function`; its weights are the folder's `model.safetensors` (read by
//!   `dense.rs`).
//! - The Transformer's `sentence_bert_config.json` may ask for what embed does not do (another
//!   task, another output, processing options): an error. Its tokenization keys
//!   (`max_seq_length`, `do_lower_case`) are read by embed-tokenize.
//!
//! A directory without `modules.json` (a bare ONNX export) falls back to
//! `1_Pooling/config.json`, then to the manifest. This file only reads configuration; pooling
//! is `pooling.rs`, Dense weights are `dense.rs`, and it knows nothing of ONNX Runtime or
//! tokenizers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use embed_manifest::Pooling;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::EmbedError;

/// What runs after the transformer: pooling, Dense layers, normalization.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Head {
    /// The Pooling module.
    pub pooling: PoolingSpec,
    /// Dense modules after pooling, in order.
    pub dense: Vec<DenseSpec>,
    /// Whether `modules.json` ends with `Normalize`.
    pub normalize: bool,
}

impl Head {
    /// A head of `mode` pooling alone (a directory that states no modules).
    fn pooling_only(mode: Pooling) -> Self {
        Head {
            pooling: PoolingSpec { mode, include_prompt: true, width: None, config: None },
            dense: Vec::new(),
            normalize: false,
        }
    }
}

/// The Pooling module.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolingSpec {
    /// How token embeddings become one vector.
    pub mode: Pooling,
    /// Whether a prompt's tokens count in the pooling (`include_prompt`).
    pub include_prompt: bool,
    /// The token-embedding width the config states.
    pub width: Option<usize>,
    /// The config file, for errors; `None` when the pooling came from the manifest.
    pub config: Option<PathBuf>,
}

/// A Dense module: `activation(weight · x + bias)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DenseSpec {
    /// The module's folder (`2_Dense`).
    pub dir: PathBuf,
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
    /// Whether the layer has a bias.
    pub bias: bool,
    /// The activation after the linear map.
    pub activation: Activation,
}

/// Activations a Dense module may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `torch.nn.Identity`.
    Identity,
    /// `torch.nn.Tanh` (sentence-transformers' default).
    Tanh,
    /// `torch.nn.ReLU`.
    Relu,
    /// `torch.nn.Sigmoid`.
    Sigmoid,
}

impl Activation {
    const KNOWN: [(&'static str, Activation); 4] = [
        ("torch.nn.modules.linear.Identity", Activation::Identity),
        ("torch.nn.modules.activation.Tanh", Activation::Tanh),
        ("torch.nn.modules.activation.ReLU", Activation::Relu),
        ("torch.nn.modules.activation.Sigmoid", Activation::Sigmoid),
    ];

    fn parse(name: &str) -> Option<Self> {
        Self::KNOWN.iter().find(|(known, _)| *known == name).map(|(_, activation)| *activation)
    }
}

/// The prompts a model's files define.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts {
    /// Prompt name -> the text put before each input (`query` -> `"query: "`).
    pub prompts: BTreeMap<String, String>,
    /// The prompt applied when a call names none (`default_prompt_name`).
    pub default_name: Option<String>,
}

impl Prompts {
    /// The model's own prompts where its files define any (an empty prompt alone, as
    /// sentence-transformers writes for `document` by default, does not count), else the
    /// manifest's.
    pub(crate) fn or_manifest(self, manifest: &BTreeMap<String, String>) -> Prompts {
        if self.prompts.values().any(|p| !p.is_empty()) || manifest.is_empty() {
            self
        } else {
            Prompts { prompts: manifest.clone(), default_name: None }
        }
    }
}

/// Reads what runs after the transformer. `None` when the directory says nothing (no
/// `modules.json`, no `1_Pooling/config.json`): the caller then asks the manifest.
pub(crate) fn read_head(dir: &Path) -> Result<Option<Head>, EmbedError> {
    let modules_path = dir.join("modules.json");
    let Some(modules) = read_json::<Vec<ModuleEntry>>(&modules_path)? else {
        let pooling_path = dir.join("1_Pooling").join("config.json");
        return match read_json::<PoolingFile>(&pooling_path)? {
            Some(file) => {
                Ok(Some(Head { pooling: file.into_spec(&pooling_path)?, dense: Vec::new(), normalize: false }))
            }
            None => Ok(None),
        };
    };
    let invalid = |message: String| EmbedError::ModelConfig { path: modules_path.clone(), message };
    let mut kinds = Vec::with_capacity(modules.len());
    for (index, module) in modules.iter().enumerate() {
        kinds.push(ModuleKind::parse(&module.kind).ok_or_else(|| {
            invalid(format!(
                "module {index} is `{}` (in `{}`), which embed cannot apply; embed applies Transformer, Pooling, Dense and Normalize",
                module.kind, module.path
            ))
        })?);
    }
    let order: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let expected = "expected Transformer, Pooling, any Dense modules, and an optional Normalize last";
    match kinds.as_slice() {
        [ModuleKind::Transformer, ModuleKind::Pooling, rest @ ..]
            if rest.iter().all(|k| *k == ModuleKind::Dense || *k == ModuleKind::Normalize)
                && rest.iter().position(|k| *k == ModuleKind::Normalize).is_none_or(|i| i == rest.len() - 1) => {}
        _ => return Err(invalid(format!("{expected}, found {}", order.join(", ")))),
    }
    if !modules[0].path.is_empty() {
        return Err(invalid(format!(
            "the Transformer module is in `{}/`; embed reads models whose transformer is at the top of the directory",
            modules[0].path
        )));
    }
    check_transformer_config(dir)?;
    let pooling_path = dir.join(&modules[1].path).join("config.json");
    let pooling = read_json::<PoolingFile>(&pooling_path)?
        .ok_or_else(|| EmbedError::ModelConfig {
            path: pooling_path.clone(),
            message: "missing; modules.json names a Pooling module here".into(),
        })?
        .into_spec(&pooling_path)?;
    let dense = modules
        .iter()
        .zip(&kinds)
        .filter(|(_, kind)| **kind == ModuleKind::Dense)
        .map(|(module, _)| read_dense(&dir.join(&module.path)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Head { pooling, dense, normalize: kinds.last() == Some(&ModuleKind::Normalize) }))
}

/// [`read_head`], else a head of the manifest's pooling alone.
pub(crate) fn read_head_or(dir: &Path, manifest_pooling: Option<Pooling>) -> Result<Head, EmbedError> {
    match (read_head(dir)?, manifest_pooling) {
        (Some(head), _) => Ok(head),
        (None, Some(mode)) => {
            tracing::warn!(
                dir = %dir.display(),
                pooling = ?mode,
                "no modules.json or 1_Pooling/config.json (not a sentence-transformers model): pooling the token embeddings with {mode:?}, as sentence-transformers would"
            );
            Ok(Head::pooling_only(mode))
        }
        (None, None) => Err(EmbedError::ModelConfig {
            path: dir.join("modules.json"),
            message: "missing (and no 1_Pooling/config.json), and the model is not in the manifest to say its pooling"
                .into(),
        }),
    }
}

/// Reads `config_sentence_transformers.json`'s prompts; none when the file is absent.
pub fn read_prompts(dir: &Path) -> Result<Prompts, EmbedError> {
    let path = dir.join("config_sentence_transformers.json");
    let Some(file) = read_json::<PromptsFile>(&path)? else {
        return Ok(Prompts::default());
    };
    let prompts: BTreeMap<String, String> =
        file.prompts.into_iter().filter_map(|(name, text)| text.map(|text| (name, text))).collect();
    if let Some(name) = &file.default_prompt_name
        && !prompts.contains_key(name)
    {
        return Err(EmbedError::ModelConfig {
            path,
            message: format!(
                "default_prompt_name is `{name}`, expected one of its prompts ({})",
                if prompts.is_empty() {
                    "none".to_string()
                } else {
                    prompts.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        });
    }
    Ok(Prompts { prompts, default_name: file.default_prompt_name })
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModuleKind {
    Transformer,
    Pooling,
    Dense,
    Normalize,
}

impl ModuleKind {
    /// The module a `modules.json` type names, in either era's spelling; `None` for anything
    /// that is not one of sentence-transformers' own four.
    fn parse(type_name: &str) -> Option<Self> {
        if !type_name.starts_with("sentence_transformers.") {
            return None;
        }
        match type_name.rsplit('.').next()? {
            "Transformer" => Some(Self::Transformer),
            "Pooling" => Some(Self::Pooling),
            "Dense" => Some(Self::Dense),
            "Normalize" => Some(Self::Normalize),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Transformer => "Transformer",
            Self::Pooling => "Pooling",
            Self::Dense => "Dense",
            Self::Normalize => "Normalize",
        }
    }
}

/// `1_Pooling/config.json` in both eras.
#[derive(Deserialize)]
struct PoolingFile {
    /// New: one mode, or a list of modes to concatenate.
    pooling_mode: Option<serde_json::Value>,
    /// New: the token-embedding width.
    embedding_dimension: Option<usize>,
    /// Old: the token-embedding width.
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    include_prompt: Option<bool>,
}

/// The new format's mode names.
const POOLING_MODES: [(&str, Pooling); 6] = [
    ("cls", Pooling::Cls),
    ("max", Pooling::Max),
    ("mean", Pooling::Mean),
    ("mean_sqrt_len_tokens", Pooling::MeanSqrtLen),
    ("weightedmean", Pooling::WeightedMean),
    ("lasttoken", Pooling::LastToken),
];

impl PoolingFile {
    fn into_spec(self, path: &Path) -> Result<PoolingSpec, EmbedError> {
        let invalid = |message: String| EmbedError::ModelConfig { path: path.to_path_buf(), message };
        let known = || POOLING_MODES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
        let modes: Vec<String> = match &self.pooling_mode {
            Some(serde_json::Value::String(mode)) => vec![mode.clone()],
            Some(serde_json::Value::Array(list)) => {
                list.iter().map(|mode| mode.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(
                    || invalid(format!("pooling_mode must be a mode name or a list of them ({})", known())),
                )?
            }
            Some(other) => {
                return Err(invalid(format!("pooling_mode must be a mode name ({}), found {other}", known())));
            }
            // The old booleans, in the order sentence-transformers concatenates them.
            None => [
                (self.pooling_mode_cls_token, "cls"),
                (self.pooling_mode_max_tokens, "max"),
                (self.pooling_mode_mean_tokens, "mean"),
                (self.pooling_mode_mean_sqrt_len_tokens, "mean_sqrt_len_tokens"),
                (self.pooling_mode_weightedmean_tokens, "weightedmean"),
                (self.pooling_mode_lasttoken, "lasttoken"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_string())
            .collect(),
        };
        let mode = match modes.as_slice() {
            // sentence-transformers reads a config that enables no mode as mean.
            [] => Pooling::Mean,
            [mode] => POOLING_MODES
                .iter()
                .find(|(name, _)| name == mode)
                .map(|(_, pooling)| *pooling)
                .ok_or_else(|| invalid(format!("unknown pooling mode `{mode}`; expected one of {}", known())))?,
            several => {
                return Err(invalid(format!(
                    "several pooling modes at once ({}, concatenated) are not supported; expected one",
                    several.join(", ")
                )));
            }
        };
        Ok(PoolingSpec {
            mode,
            include_prompt: self.include_prompt.unwrap_or(true),
            width: self.embedding_dimension.or(self.word_embedding_dimension),
            config: Some(path.to_path_buf()),
        })
    }
}

/// A Dense module's `config.json`.
#[derive(Deserialize)]
struct DenseFile {
    in_features: usize,
    out_features: usize,
    #[serde(default = "yes")]
    bias: bool,
    activation_function: Option<String>,
    module_input_name: Option<String>,
    module_output_name: Option<String>,
}

fn yes() -> bool {
    true
}

fn read_dense(dir: &Path) -> Result<DenseSpec, EmbedError> {
    let path = dir.join("config.json");
    let file = read_json::<DenseFile>(&path)?.ok_or_else(|| EmbedError::ModelConfig {
        path: path.clone(),
        message: "missing; modules.json names a Dense module here".into(),
    })?;
    let invalid = |message: String| EmbedError::ModelConfig { path: path.clone(), message };
    for (key, value) in
        [("module_input_name", &file.module_input_name), ("module_output_name", &file.module_output_name)]
    {
        if let Some(value) = value
            && value != "sentence_embedding"
        {
            return Err(invalid(format!(
                "{key} is `{value}`; embed applies Dense modules to the sentence embedding only (`sentence_embedding`)"
            )));
        }
    }
    // sentence-transformers' Dense defaults to Tanh when the config names no activation.
    let activation = match file.activation_function.as_deref() {
        None => Activation::Tanh,
        Some(name) => Activation::parse(name).ok_or_else(|| {
            invalid(format!(
                "activation_function `{name}` is not supported; expected one of {}",
                Activation::KNOWN.iter().map(|(known, _)| *known).collect::<Vec<_>>().join(", ")
            ))
        })?,
    };
    if file.in_features == 0 || file.out_features == 0 {
        return Err(invalid(format!(
            "in_features and out_features must be at least 1, found {} and {}",
            file.in_features, file.out_features
        )));
    }
    Ok(DenseSpec {
        dir: dir.to_path_buf(),
        in_features: file.in_features,
        out_features: file.out_features,
        bias: file.bias,
        activation,
    })
}

/// The Transformer module's `sentence_bert_config.json`: what embed cannot honour is an error.
#[derive(Deserialize)]
struct TransformerFile {
    transformer_task: Option<String>,
    module_output_name: Option<String>,
    processing_kwargs: Option<serde_json::Map<String, serde_json::Value>>,
}

fn check_transformer_config(dir: &Path) -> Result<(), EmbedError> {
    let path = dir.join("sentence_bert_config.json");
    let Some(file) = read_json::<TransformerFile>(&path)? else {
        return Ok(());
    };
    let invalid = |message: String| Err(EmbedError::ModelConfig { path: path.clone(), message });
    if let Some(task) = file.transformer_task.filter(|t| t != "feature-extraction") {
        return invalid(format!("transformer_task is `{task}`; embed runs `feature-extraction` transformers"));
    }
    if let Some(output) = file.module_output_name.filter(|o| o != "token_embeddings") {
        return invalid(format!("module_output_name is `{output}`; embed pools `token_embeddings`"));
    }
    if let Some(kwargs) = file.processing_kwargs.filter(|k| !k.is_empty()) {
        return invalid(format!(
            "processing_kwargs ({}) change how texts are tokenized, which embed does not apply; expected none",
            kwargs.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

/// `config_sentence_transformers.json`: prompts may be absent or null-valued placeholders.
#[derive(Deserialize)]
struct PromptsFile {
    #[serde(default)]
    prompts: BTreeMap<String, Option<String>>,
    default_prompt_name: Option<String>,
}

/// Reads and parses a JSON file; `None` when it does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, EmbedError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EmbedError::Io { path: path.to_path_buf(), source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| EmbedError::ModelConfig { path: path.to_path_buf(), message: source.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model directory holding `files`.
    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create a folder");
            std::fs::write(path, text).expect("write a file");
        }
        dir
    }

    const OLD_MODULES: &str = r#"[
      {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
      {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
      {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
    ]"#;
    const OLD_POOLING: &str = r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
      "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
      "pooling_mode_mean_sqrt_len_tokens": false}"#;
    const NEW_MODULES: &str = r#"[
      {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
      {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
      {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.base.modules.dense.Dense"},
      {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.sentence_transformer.modules.normalize.Normalize"}
    ]"#;
    const NEW_POOLING: &str = r#"{"embedding_dimension": 32, "pooling_mode": "cls", "include_prompt": false}"#;
    const NEW_DENSE: &str = r#"{"in_features": 32, "out_features": 24, "bias": true,
      "activation_function": "torch.nn.modules.activation.Tanh",
      "module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"}"#;
    const NEW_TRANSFORMER: &str = r#"{"transformer_task": "feature-extraction",
      "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
      "module_output_name": "token_embeddings"}"#;

    fn head(files: &[(&str, &str)]) -> Result<Option<Head>, EmbedError> {
        read_head(dir_with(files).path())
    }

    fn error(files: &[(&str, &str)]) -> String {
        head(files).expect_err("an invalid configuration").to_string()
    }

    #[test]
    fn reads_the_old_format() {
        let head = head(&[
            ("modules.json", OLD_MODULES),
            ("1_Pooling/config.json", OLD_POOLING),
            ("sentence_bert_config.json", r#"{"max_seq_length": 256, "do_lower_case": false}"#),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(head.pooling.mode, Pooling::Mean);
        assert_eq!(head.pooling.width, Some(384));
        assert!(head.pooling.include_prompt);
        assert!(head.dense.is_empty());
        assert!(head.normalize);
    }

    #[test]
    fn reads_the_new_format_with_a_dense_module() {
        let dir = dir_with(&[
            ("modules.json", NEW_MODULES),
            ("1_Pooling/config.json", NEW_POOLING),
            ("2_Dense/config.json", NEW_DENSE),
            ("sentence_bert_config.json", NEW_TRANSFORMER),
        ]);
        let head = read_head(dir.path()).unwrap().unwrap();
        assert_eq!(head.pooling.mode, Pooling::Cls);
        assert_eq!(head.pooling.width, Some(32));
        assert!(!head.pooling.include_prompt);
        assert_eq!(
            head.dense,
            [DenseSpec {
                dir: dir.path().join("2_Dense"),
                in_features: 32,
                out_features: 24,
                bias: true,
                activation: Activation::Tanh
            }]
        );
        assert!(head.normalize);
    }

    #[test]
    fn every_mode_reads_in_both_formats() {
        let old_keys = [
            ("pooling_mode_cls_token", Pooling::Cls),
            ("pooling_mode_max_tokens", Pooling::Max),
            ("pooling_mode_mean_tokens", Pooling::Mean),
            ("pooling_mode_mean_sqrt_len_tokens", Pooling::MeanSqrtLen),
            ("pooling_mode_weightedmean_tokens", Pooling::WeightedMean),
            ("pooling_mode_lasttoken", Pooling::LastToken),
        ];
        for ((old_key, mode), (new_name, same)) in old_keys.iter().zip(POOLING_MODES) {
            assert_eq!(*mode, same);
            for config in [format!(r#"{{"{old_key}": true}}"#), format!(r#"{{"pooling_mode": ["{new_name}"]}}"#)] {
                let head = head(&[("modules.json", OLD_MODULES), ("1_Pooling/config.json", &config)]).unwrap().unwrap();
                assert_eq!(head.pooling.mode, *mode, "{config}");
            }
        }
        let none = head(&[("modules.json", OLD_MODULES), ("1_Pooling/config.json", "{}")]).unwrap().unwrap();
        assert_eq!(none.pooling.mode, Pooling::Mean, "no mode is mean, as sentence-transformers reads it");
    }

    #[test]
    fn a_directory_without_modules_json_falls_back_to_its_pooling_then_the_manifest() {
        let pooling_only = head(&[("1_Pooling/config.json", r#"{"pooling_mode_cls_token": true}"#)]).unwrap().unwrap();
        assert_eq!(pooling_only.pooling.mode, Pooling::Cls);
        let bare = dir_with(&[]);
        assert_eq!(read_head(bare.path()).unwrap(), None);
        assert_eq!(read_head_or(bare.path(), Some(Pooling::Max)).unwrap().pooling.mode, Pooling::Max);
        let err = read_head_or(bare.path(), None).unwrap_err().to_string();
        assert!(err.contains("not in the manifest to say its pooling"), "{err}");
    }

    #[test]
    fn unknown_modules_are_named() {
        let modules = NEW_MODULES.replace("sentence_transformers.base.modules.dense.Dense", "custom_code.Projection");
        let err = error(&[("modules.json", &modules), ("1_Pooling/config.json", NEW_POOLING)]);
        assert!(
            err.ends_with(
                "modules.json: module 2 is `custom_code.Projection` (in `2_Dense`), which embed cannot apply; \
                 embed applies Transformer, Pooling, Dense and Normalize"
            ),
            "{err}"
        );
        let modules = OLD_MODULES.replace("models.Normalize", "models.LayerNorm");
        assert!(error(&[("modules.json", &modules)]).contains("`sentence_transformers.models.LayerNorm`"));
        let swapped = r#"[{"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"},
                          {"type": "sentence_transformers.models.Transformer", "path": ""}]"#;
        let err = error(&[("modules.json", swapped)]);
        assert!(err.contains("expected Transformer, Pooling, any Dense modules, and an optional Normalize last, found Pooling, Transformer"), "{err}");
        let early_normalize = r#"[{"type": "sentence_transformers.models.Transformer", "path": ""},
            {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"},
            {"type": "sentence_transformers.models.Normalize", "path": "2_Normalize"},
            {"type": "sentence_transformers.models.Dense", "path": "3_Dense"}]"#;
        assert!(error(&[("modules.json", early_normalize)]).contains("found Transformer, Pooling, Normalize, Dense"));
    }

    #[test]
    fn unsupported_pooling_is_an_error_saying_what_is_expected() {
        fn config(pooling: &str) -> [(&str, &str); 2] {
            [("modules.json", OLD_MODULES), ("1_Pooling/config.json", pooling)]
        }
        let err = error(&config(r#"{"pooling_mode": "median"}"#));
        assert!(
            err.ends_with(
                "unknown pooling mode `median`; expected one of cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken"
            ),
            "{err}"
        );
        let err = error(&config(r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#));
        assert!(
            err.ends_with("several pooling modes at once (cls, mean, concatenated) are not supported; expected one"),
            "{err}"
        );
        let err = error(&config(r#"{"pooling_mode": ["max", "mean"]}"#));
        assert!(err.contains("several pooling modes at once (max, mean"), "{err}");
        let err = error(&[("modules.json", OLD_MODULES)]);
        assert!(err.contains("1_Pooling/config.json: missing; modules.json names a Pooling module here"), "{err}");
    }

    #[test]
    fn dense_modules_need_a_known_activation_and_the_sentence_embedding() {
        let files = |dense: &str| {
            dir_with(&[
                ("modules.json", NEW_MODULES),
                ("1_Pooling/config.json", NEW_POOLING),
                ("2_Dense/config.json", dense),
            ])
        };
        let gelu = NEW_DENSE.replace("activation.Tanh", "activation.GELU");
        let err = read_head(files(&gelu).path()).unwrap_err().to_string();
        assert!(
            err.contains("activation_function `torch.nn.modules.activation.GELU` is not supported; expected one of"),
            "{err}"
        );
        let tokens = NEW_DENSE.replacen("\"sentence_embedding\"", "\"token_embeddings\"", 1);
        let err = read_head(files(&tokens).path()).unwrap_err().to_string();
        assert!(err.contains("module_input_name is `token_embeddings`"), "{err}");
        let defaults = r#"{"in_features": 32, "out_features": 8}"#;
        let dense = &read_head(files(defaults).path()).unwrap().unwrap().dense[0];
        assert_eq!((dense.bias, dense.activation), (true, Activation::Tanh));
        let identity = NEW_DENSE.replace("activation.Tanh", "linear.Identity").replace("true", "false");
        let dense = &read_head(files(&identity).path()).unwrap().unwrap().dense[0];
        assert_eq!((dense.bias, dense.activation), (false, Activation::Identity));
    }

    #[test]
    fn transformer_options_embed_cannot_honour_are_errors() {
        let files = |transformer: &str| {
            head(&[
                ("modules.json", OLD_MODULES),
                ("1_Pooling/config.json", OLD_POOLING),
                ("sentence_bert_config.json", transformer),
            ])
        };
        let err = files(r#"{"transformer_task": "text-generation"}"#).unwrap_err().to_string();
        assert!(
            err.ends_with("transformer_task is `text-generation`; embed runs `feature-extraction` transformers"),
            "{err}"
        );
        let err = files(r#"{"processing_kwargs": {"text": {"padding_side": "left"}}}"#).unwrap_err().to_string();
        assert!(err.contains("processing_kwargs (text) change how texts are tokenized"), "{err}");
        assert!(files(NEW_TRANSFORMER).is_ok());
        let modules = OLD_MODULES.replacen(r#""path": """#, r#""path": "0_Transformer""#, 1);
        let err = error(&[("modules.json", &modules), ("1_Pooling/config.json", OLD_POOLING)]);
        assert!(err.contains("the Transformer module is in `0_Transformer/`"), "{err}");
    }

    #[test]
    fn prompts_come_from_the_files_else_the_manifest() {
        let manifest: BTreeMap<String, String> = [("query".to_string(), "query: ".to_string())].into();
        let dir = dir_with(&[(
            "config_sentence_transformers.json",
            r#"{"prompts": {"query": "Q: ", "document": "", "unset": null}, "default_prompt_name": "query",
                "similarity_fn_name": "cosine"}"#,
        )]);
        let prompts = read_prompts(dir.path()).unwrap();
        assert_eq!(prompts.default_name.as_deref(), Some("query"));
        assert_eq!(prompts.prompts.keys().collect::<Vec<_>>(), ["document", "query"]);
        assert_eq!(prompts.clone().or_manifest(&manifest), prompts);
        // Old files have no prompts, or only the empty placeholders 5.x writes.
        let old = dir_with(&[(
            "config_sentence_transformers.json",
            r#"{"__version__": {"sentence_transformers": "2.0.0"}}"#,
        )]);
        assert_eq!(read_prompts(old.path()).unwrap().or_manifest(&manifest).prompts, manifest);
        let empty = dir_with(&[("config_sentence_transformers.json", r#"{"prompts": {"query": "", "document": ""}}"#)]);
        assert_eq!(read_prompts(empty.path()).unwrap().or_manifest(&manifest).prompts, manifest);
        assert_eq!(read_prompts(dir_with(&[]).path()).unwrap(), Prompts::default());
        let bad = dir_with(&[(
            "config_sentence_transformers.json",
            r#"{"prompts": {"query": "Q: "}, "default_prompt_name": "doc"}"#,
        )]);
        let err = read_prompts(bad.path()).unwrap_err().to_string();
        assert!(err.ends_with("default_prompt_name is `doc`, expected one of its prompts (query)"), "{err}");
    }
}
