//! Step one of embedding: inputs made ready for a model ([`Prepared`]). Texts are looked up in
//! the embedding cache, prompted, tokenized and truncated (or refused when truncation is off),
//! token ids are checked against the vocabulary and wrapped in the model's special tokens, and
//! every input's exact token count is known before anything queues or runs.
//!
//! Step two is `run.rs`. This file knows the tokenizer and the cache, nothing of engines or of
//! how inputs are batched.

use std::sync::Arc;
use std::time::Instant;

use embed_pool::Handle;
use embed_tokenize::TokenizedText;

use crate::batching::CallShape;
use crate::cache::{CacheKey, fingerprint};
use crate::model::{EmbedOptions, Embedding, EmbeddingModel, Output};
use crate::{EmbedError, Service};

/// One input ready for the model: its tokens after truncation, special tokens included, and
/// how many of the first are a prompt's tokens left out of pooling.
#[derive(Debug, Clone)]
pub(crate) struct ReadyText {
    pub tokens: TokenizedText,
    pub prompt_tokens: usize,
}

impl ReadyText {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
}

/// One input of a [`Prepared`].
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// Found in the embedding cache.
    Cached(Embedding),
    /// To run; `key` where its embedding goes into the cache.
    Ready { text: ReadyText, key: Option<CacheKey> },
}

/// Inputs made ready for one model with one set of options (step one of embedding): looked up
/// in the embedding cache, prompted, tokenized, truncated or refused, counted. Step two,
/// [`Service::run`], runs any number of them together in the inference calls the
/// [`crate::BatchPolicy`] forms.
///
/// ```no_run
/// let service = embed_core::Service::new(embed_core::Config::default())?;
/// let model = service.default_model();
/// let a = service.prepare(&model, &["one request"], service.default_options())?;
/// let b = service.prepare(&model, &["another", "request"], service.default_options())?;
/// assert_eq!((a.shape().texts, b.shape().tokens), (1, 6));
/// let answers = service.run(&[&a, &b])?;
/// assert_eq!((answers[0].len(), answers[1].len()), (1, 2));
/// # Ok::<(), embed_core::EmbedError>(())
/// ```
#[derive(Debug)]
pub struct Prepared {
    pub(crate) model: Handle<EmbeddingModel>,
    pub(crate) normalize: bool,
    pub(crate) output: Output,
    pub(crate) entries: Vec<Entry>,
}

impl Prepared {
    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no inputs.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The model the inputs are ready for.
    pub fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    /// The inputs still to compute (those not found in the cache) as one inference call.
    pub fn shape(&self) -> CallShape {
        let lengths: Vec<usize> = self.ready().map(|(_, text)| text.len()).collect();
        CallShape::of(&lengths, self.model.pads())
    }

    /// Whether these inputs and `other` may run in one call: the same model and options.
    pub fn runs_with(&self, other: &Prepared) -> bool {
        self.model.name() == other.model.name() && self.normalize == other.normalize && self.output == other.output
    }

    /// These inputs in parts of at most `max_inputs` each, in order (at least 1 per part).
    pub fn split(self, max_inputs: usize) -> Vec<Prepared> {
        let max_inputs = max_inputs.max(1);
        let mut parts = Vec::with_capacity(self.entries.len().div_ceil(max_inputs));
        let mut entries = self.entries.into_iter().peekable();
        while entries.peek().is_some() {
            parts.push(Prepared {
                model: self.model.clone(),
                normalize: self.normalize,
                output: self.output,
                entries: entries.by_ref().take(max_inputs).collect(),
            });
        }
        parts
    }

    /// The inputs to run, with their positions.
    pub(crate) fn ready(&self) -> impl Iterator<Item = (usize, &ReadyText)> {
        self.entries.iter().enumerate().filter_map(|(index, entry)| match entry {
            Entry::Ready { text, .. } => Some((index, text)),
            Entry::Cached(_) => None,
        })
    }

    /// What the model and options are, for an error that finds two that differ.
    pub(crate) fn describe(&self) -> String {
        format!("model `{}` with normalize {} and output {:?}", self.model.name(), self.normalize, self.output)
    }
}

/// What the lenient preparation of the stream refuses: each input's own error, by position.
pub(crate) type Refused = Vec<(usize, EmbedError)>;

impl Service {
    /// Step one: makes `texts` ready for `model` (a handle from [`Service::model_handle`] or
    /// [`Service::default_model`]) under `options`. A text over the model's maximum with
    /// truncation off is an error naming it ([`EmbedError::TooLong`]), as is an unknown prompt;
    /// nothing has run yet.
    pub fn prepare<S: AsRef<str> + Sync>(
        &self,
        model: &Handle<EmbeddingModel>,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Prepared, EmbedError> {
        let (prepared, refused) = self.prepare_leniently(model, texts, options)?;
        match refused.into_iter().next() {
            Some((_, error)) => Err(error),
            None => Ok(prepared),
        }
    }

    /// Step one for texts given as token ids (without special tokens, as the model's tokenizer
    /// makes them): checked against the vocabulary, truncated (or refused), wrapped in the
    /// model's special tokens. Prompts do not apply, and the cache is not used.
    pub fn prepare_token_ids(
        &self,
        model: &Handle<EmbeddingModel>,
        ids: &[Vec<u32>],
        options: &EmbedOptions,
    ) -> Result<Prepared, EmbedError> {
        let started = Instant::now();
        let tokenizer = &model.tokenizer;
        let tokenized = tokenizer.from_ids(ids, options.truncation)?;
        self.inner.metrics.record_tokenize(ids.len(), started.elapsed());
        if !options.truncate
            && let Some(index) = tokenized.iter().position(|t| t.truncated)
        {
            let tokens = ids[index].len() + tokenizer.special_tokens_count();
            return Err(EmbedError::TooLong { index, tokens, max: tokenizer.max_length() });
        }
        let entries = tokenized
            .into_iter()
            .map(|tokens| Entry::Ready { text: ReadyText { tokens, prompt_tokens: 0 }, key: None })
            .collect();
        Ok(Prepared { model: model.clone(), normalize: options.normalize, output: options.output, entries })
    }

    /// [`Service::prepare`] that refuses too-long texts one by one: the prepared inputs are the
    /// others, in order, and each refused text comes back with its error and position.
    pub(crate) fn prepare_leniently<S: AsRef<str> + Sync>(
        &self,
        model: &Handle<EmbeddingModel>,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<(Prepared, Refused), EmbedError> {
        let started = Instant::now();
        let prompt = model.prompt_text(options.prompt.as_deref())?;
        let tokenizer = &model.tokenizer;
        let cache = &self.inner.cache;
        // Token vectors are never cached: they are large and asked for rarely.
        let print = (cache.enabled() && options.output == Output::Pooled).then(|| {
            fingerprint(&[
                &model.files.name,
                &model.files.onnx,
                &model.files.revision,
                &tokenizer.max_length(),
                &options.truncation.unwrap_or(tokenizer.truncation_side()),
                &options.normalize,
                &options.prompt,
            ])
        });
        let key = |text: &str| print.as_ref().map(|p| CacheKey { fingerprint: Arc::clone(p), text: text.into() });
        let mut entries: Vec<Option<Entry>> = Vec::with_capacity(texts.len());
        let mut missing = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            // A vector cut to the maximum is no answer where truncation is off.
            let hit = key(text.as_ref()).and_then(|k| cache.get(&k)).filter(|hit| options.truncate || !hit.truncated);
            if hit.is_none() {
                missing.push(index);
            }
            entries.push(hit.map(Entry::Cached));
        }
        let prompted = |text: &str| match prompt {
            None => text.to_string(),
            Some(prompt) => format!("{prompt}{text}"),
        };
        let tokenized = match prompt {
            None => {
                let missing_texts: Vec<&str> = missing.iter().map(|&i| texts[i].as_ref()).collect();
                tokenizer.tokenize_with(&missing_texts, options.truncation)?
            }
            Some(_) => {
                let missing_texts: Vec<String> = missing.iter().map(|&i| prompted(texts[i].as_ref())).collect();
                tokenizer.tokenize_with(&missing_texts, options.truncation)?
            }
        };
        self.inner.metrics.record_tokenize(missing.len(), started.elapsed());
        // sentence-transformers leaves the prompt's tokens out of pooling when the Pooling
        // module says `include_prompt: false`.
        let prompt_tokens = match prompt {
            Some(prompt) if !model.head.pooling.include_prompt => tokenizer.prompt_tokens(prompt)?,
            _ => 0,
        };
        let mut refused = Vec::new();
        for (&index, tokens) in missing.iter().zip(tokenized) {
            let text = texts[index].as_ref();
            if tokens.truncated && !options.truncate {
                let tokens = tokenizer.count_tokens(&prompted(text))?;
                refused.push((index, EmbedError::TooLong { index, tokens, max: tokenizer.max_length() }));
            } else {
                entries[index] = Some(Entry::Ready { text: ReadyText { tokens, prompt_tokens }, key: key(text) });
            }
        }
        let entries = entries.into_iter().flatten().collect();
        Ok((Prepared { model: model.clone(), normalize: options.normalize, output: options.output, entries }, refused))
    }
}
