//! Tokenization for sentence-embedding models, following sentence-transformers' rules.
//!
//! A [`Tokenizer`] loads a model directory's `tokenizer.json` together with
//! `sentence_bert_config.json` and `tokenizer_config.json`: sentence-transformers'
//! `max_seq_length` (where 5.x saves it, `model_max_length`) overrides the truncation baked into
//! `tokenizer.json`, `do_lower_case` lowercases first, padding goes to the longest text of a
//! batch (or to the maximum on request; the engine pads, this crate says with what), and a
//! batch of texts is tokenized in parallel into [`TokenizedText`]s.
//!
//! This crate knows nothing of ONNX Runtime, pooling or the model manifest; no `tokenizers`
//! type appears in its public API.

mod config;

use std::path::{Path, PathBuf};

pub use config::{SentenceTransformersConfig, TokenizerOptions, TruncationSide};

/// The error type of the tokenizers library's failures, kept as the source of a
/// [`TokenizeError`] (a boxed error: no `tokenizers` type appears in this crate's API).
pub type TokenizerFault = Box<dyn std::error::Error + Send + Sync>;

/// Errors from loading a tokenizer or encoding text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizeError {
    /// A file the tokenizer needs is missing.
    #[error("missing tokenizer file {}", path.display())]
    MissingFile {
        /// The file that was expected.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON configuration file is not valid.
    #[error("invalid {}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// `tokenizer.json` does not parse.
    #[error("invalid tokenizer file {}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// What the tokenizers library reported.
        #[source]
        source: TokenizerFault,
    },
    /// A maximum length the model cannot take.
    #[error("invalid max_length: expected {expected}, found {found}")]
    MaxLength {
        /// The maximum asked for.
        found: usize,
        /// What the model takes.
        expected: String,
    },
    /// Neither the caller nor the model's files state a maximum length.
    #[error("the model states no max_seq_length or model_max_length: expected a max_length to be given")]
    NoMaxLength,
    /// The tokenizers library refused the truncation settings.
    #[error("cannot set the truncation to {max_length} tokens")]
    Truncation {
        /// The maximum length asked for.
        max_length: usize,
        /// What the tokenizers library reported.
        #[source]
        source: TokenizerFault,
    },
    /// A token id given by the caller that the vocabulary does not have.
    #[error("token id {id} of input {index} is outside the vocabulary: expected an id below {vocab_size}")]
    OutOfVocabulary {
        /// Position of the input.
        index: usize,
        /// The id.
        id: u32,
        /// Size of the vocabulary, added tokens included.
        vocab_size: usize,
    },
    /// The tokenizers library failed on an input.
    #[error("cannot tokenize text")]
    Encode(#[source] TokenizerFault),
}

/// One text's tokens after truncation, special tokens included, before padding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenizedText {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Token type ids.
    pub type_ids: Vec<u32>,
    /// Whether the text was cut to the maximum length.
    pub truncated: bool,
}

impl TokenizedText {
    fn from_encoding(encoding: tokenizers::Encoding) -> Self {
        Self {
            truncated: !encoding.get_overflowing().is_empty(),
            ids: encoding.get_ids().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens at all (not even special tokens).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// One token of a text: its id, the token's own string in the vocabulary, whether it is a
/// special token the model's template added, and the byte range of the text it came from
/// (`(0, 0)` for a special token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Token id.
    pub id: u32,
    /// The token as the vocabulary writes it (`##ing`, `[CLS]`).
    pub token: String,
    /// Whether it is a special token (`[CLS]`, `[SEP]`, `<s>`).
    pub special: bool,
    /// Byte range of the text it came from.
    pub offsets: (usize, usize),
}

/// A tokenizer configured as sentence-transformers configures it for one model.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The same tokenizer without truncation, for counting tokens.
    untruncated: tokenizers::Tokenizer,
    /// The same tokenizer truncating on the other side, built on first use.
    opposite: std::sync::OnceLock<tokenizers::Tokenizer>,
    max_length: usize,
    truncation: TruncationSide,
    /// Vocabulary size with added tokens (computing it walks the whole vocabulary).
    vocab_size: usize,
    pad_id: u32,
    pad_to_max_length: bool,
    /// Tokens the model's template adds around a single text (`[CLS]`, `[SEP]`).
    special_tokens: usize,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("max_length", &self.max_length)
            .field("pad_id", &self.pad_id)
            .field("pad_to_max_length", &self.pad_to_max_length)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads the tokenizer of a model directory (`tokenizer.json`, and the sentence-transformers
    /// and tokenizer configs where present).
    pub fn from_dir(dir: &Path, options: &TokenizerOptions) -> Result<Self, TokenizeError> {
        let tokenizer_file = dir.join("tokenizer.json");
        if !tokenizer_file.is_file() {
            return Err(TokenizeError::MissingFile { path: tokenizer_file });
        }
        let st_config = SentenceTransformersConfig::from_dir(dir)?;
        let inner = tokenizers::Tokenizer::from_file(&tokenizer_file)
            .map_err(|source| TokenizeError::Load { path: tokenizer_file.clone(), source })?;
        Self::new(inner, &st_config, options)
    }

    /// Loads a tokenizer from `tokenizer.json` bytes with the given model configuration.
    pub fn from_bytes(
        tokenizer_json: &[u8],
        st_config: &SentenceTransformersConfig,
        options: &TokenizerOptions,
    ) -> Result<Self, TokenizeError> {
        let inner = tokenizers::Tokenizer::from_bytes(tokenizer_json)
            .map_err(|source| TokenizeError::Load { path: PathBuf::from("tokenizer.json"), source })?;
        Self::new(inner, st_config, options)
    }

    fn new(
        mut inner: tokenizers::Tokenizer,
        st_config: &SentenceTransformersConfig,
        options: &TokenizerOptions,
    ) -> Result<Self, TokenizeError> {
        let max_length = match options.max_length {
            Some(0) => return Err(TokenizeError::MaxLength { found: 0, expected: "at least 1".into() }),
            Some(requested) => match st_config.position_limit() {
                Some(limit) if requested > limit => {
                    return Err(TokenizeError::MaxLength {
                        found: requested,
                        expected: format!("at most {limit}, the positions the model accepts"),
                    });
                }
                _ => requested,
            },
            None => st_config.max_length().ok_or(TokenizeError::NoMaxLength)?,
        };
        let truncation = options.truncation.unwrap_or(st_config.truncation_side);
        let direction = match truncation {
            TruncationSide::Right => tokenizers::TruncationDirection::Right,
            TruncationSide::Left => tokenizers::TruncationDirection::Left,
        };
        if st_config.do_lower_case {
            // As sentence-transformers does: lowercase first, then the tokenizer's own normalizer.
            let lowercase = tokenizers::NormalizerWrapper::from(tokenizers::normalizers::Lowercase);
            let normalizer = match inner.get_normalizer().cloned() {
                Some(own) => tokenizers::normalizers::Sequence::new(vec![lowercase, own]).into(),
                None => lowercase,
            };
            inner.with_normalizer(Some(normalizer));
        }
        // Padding is done here, into flat buffers, not by the tokenizers library.
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| st_config.pad_token.as_deref().and_then(|t| inner.token_to_id(t)));
        inner.with_padding(None);
        let mut untruncated = inner.clone();
        untruncated.with_truncation(None).map_err(|source| TokenizeError::Truncation { max_length: 0, source })?;
        // What the template adds around a single text: the tokens of an empty text.
        let special_tokens = untruncated.encode_fast("", true).map_err(TokenizeError::Encode)?.get_ids().len();
        // The tokenizers library subtracts the special tokens from the maximum without checking:
        // a smaller maximum overflows (a panic in debug builds, no truncation at all in release).
        if max_length <= special_tokens {
            return Err(TokenizeError::MaxLength {
                found: max_length,
                expected: format!(
                    "at least {}, to leave room for text after the {special_tokens} special tokens the model adds",
                    special_tokens + 1
                ),
            });
        }
        inner
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length,
                direction,
                strategy: tokenizers::TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|source| TokenizeError::Truncation { max_length, source })?;
        let vocab_size = inner.get_vocab_size(true);
        Ok(Self {
            inner,
            untruncated,
            opposite: std::sync::OnceLock::new(),
            vocab_size,
            max_length,
            truncation,
            pad_id: pad_id.unwrap_or(0),
            pad_to_max_length: options.pad_to_max_length,
            special_tokens,
        })
    }

    /// Which end of a too-long text is cut.
    pub fn truncation_side(&self) -> TruncationSide {
        self.truncation
    }

    /// The maximum tokens per text, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Tokenizes `texts` in parallel, truncated but not padded.
    pub fn tokenize<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<TokenizedText>, TokenizeError> {
        self.tokenize_with(texts, None)
    }

    /// Tokenizes `texts` in parallel, truncated on `side` (the configured side when `None`).
    ///
    /// A text much longer than the maximum is tokenized from a window at the kept end first,
    /// cut at whitespace, and the window grows until it alone overflows the maximum (or is the
    /// whole text): the tokens kept are then those of the whole text, at a cost that does not
    /// grow with the text (a 10 MB text would otherwise take seconds and a gigabyte).
    pub fn tokenize_with<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        side: Option<TruncationSide>,
    ) -> Result<Vec<TokenizedText>, TokenizeError> {
        let tokenizer = self.for_side(side)?;
        let side = side.unwrap_or(self.truncation);
        let first = self.max_length.saturating_mul(WINDOW_BYTES_PER_TOKEN).max(MIN_WINDOW_BYTES);
        let mut windows: Vec<usize> = texts.iter().map(|_| first).collect();
        let inputs: Vec<tokenizers::EncodeInput<'_>> =
            texts.iter().map(|t| window(t.as_ref(), first, side).into()).collect();
        let mut encodings = tokenizer.encode_batch_fast(inputs, true).map_err(TokenizeError::Encode)?;
        for ((text, encoding), size) in texts.iter().zip(&mut encodings).zip(&mut windows) {
            let text = text.as_ref();
            while encoding.get_overflowing().is_empty() && window(text, *size, side).len() < text.len() {
                *size = size.saturating_mul(4);
                *encoding = tokenizer.encode_fast(window(text, *size, side), true).map_err(TokenizeError::Encode)?;
            }
        }
        Ok(encodings.into_iter().map(TokenizedText::from_encoding).collect())
    }

    /// Token ids given by the caller (the text already tokenized, without special tokens)
    /// made ready for the model: checked against the vocabulary, truncated on `side`, and
    /// wrapped in the model's special tokens as a text would be.
    pub fn from_ids(
        &self,
        texts: &[Vec<u32>],
        side: Option<TruncationSide>,
    ) -> Result<Vec<TokenizedText>, TokenizeError> {
        let vocab = self.vocab_size();
        let tokenizer = self.for_side(side)?;
        texts
            .iter()
            .enumerate()
            .map(|(index, ids)| {
                if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
                    return Err(TokenizeError::OutOfVocabulary { index, id, vocab_size: vocab });
                }
                let n = ids.len();
                let encoding = tokenizers::Encoding::new(
                    ids.clone(),
                    vec![0; n],
                    vec![String::new(); n],
                    vec![None; n],
                    vec![(0, 0); n],
                    vec![0; n],
                    vec![1; n],
                    Vec::new(),
                    Default::default(),
                );
                let encoding = tokenizer.post_process(encoding, None, true).map_err(TokenizeError::Encode)?;
                Ok(TokenizedText::from_encoding(encoding))
            })
            .collect()
    }

    /// The tokens of `text`, without truncation, with the model's special tokens where
    /// `add_special_tokens` says, and the byte range of `text` each came from.
    pub fn tokens(&self, text: &str, add_special_tokens: bool) -> Result<Vec<Token>, TokenizeError> {
        // `encode` reports byte offsets into the original text (`encode_fast` reports none).
        let encoding = self.untruncated.encode(text, add_special_tokens).map_err(TokenizeError::Encode)?;
        Ok(encoding
            .get_ids()
            .iter()
            .zip(encoding.get_tokens())
            .zip(encoding.get_special_tokens_mask())
            .zip(encoding.get_offsets())
            .map(|(((&id, token), &special), &offsets)| Token {
                id,
                token: token.clone(),
                special: special == 1,
                offsets: if special == 1 { (0, 0) } else { offsets },
            })
            .collect())
    }

    /// Token ids turned back into text, one string per list, leaving special tokens out where
    /// `skip_special_tokens` says. An id outside the vocabulary is an error naming its list
    /// (the tokenizers library would drop it silently).
    pub fn decode(&self, texts: &[Vec<u32>], skip_special_tokens: bool) -> Result<Vec<String>, TokenizeError> {
        let vocab = self.vocab_size();
        texts
            .iter()
            .enumerate()
            .map(|(index, ids)| {
                if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
                    return Err(TokenizeError::OutOfVocabulary { index, id, vocab_size: vocab });
                }
                self.untruncated.decode(ids, skip_special_tokens).map_err(TokenizeError::Encode)
            })
            .collect()
    }

    /// Tokens a prompt takes at the start of a prompted text, as sentence-transformers counts
    /// them to leave the prompt out of pooling (`include_prompt: false`): the prompt tokenized
    /// alone with the model's special tokens, less the last token when it is a special one
    /// (`[SEP]`, `</s>`).
    pub fn prompt_tokens(&self, prompt: &str) -> Result<usize, TokenizeError> {
        let encoding = self.inner.encode_fast(prompt, true).map_err(TokenizeError::Encode)?;
        let ids = encoding.get_ids();
        let special = self.inner.get_added_tokens_decoder();
        let ends_special = ids.last().is_some_and(|id| special.get(id).is_some_and(|token| token.special));
        Ok(ids.len() - usize::from(ends_special))
    }

    /// Size of the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn for_side(&self, side: Option<TruncationSide>) -> Result<&tokenizers::Tokenizer, TokenizeError> {
        match side {
            None => Ok(&self.inner),
            Some(side) if side == self.truncation => Ok(&self.inner),
            Some(side) => {
                if let Some(tokenizer) = self.opposite.get() {
                    return Ok(tokenizer);
                }
                let mut opposite = self.inner.clone();
                opposite
                    .with_truncation(Some(tokenizers::TruncationParams {
                        max_length: self.max_length,
                        direction: match side {
                            TruncationSide::Right => tokenizers::TruncationDirection::Right,
                            TruncationSide::Left => tokenizers::TruncationDirection::Left,
                        },
                        strategy: tokenizers::TruncationStrategy::LongestFirst,
                        stride: 0,
                    }))
                    .map_err(|source| TokenizeError::Truncation { max_length: self.max_length, source })?;
                Ok(self.opposite.get_or_init(|| opposite))
            }
        }
    }

    /// The id short rows are padded with, for engines that pad.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The length every row is padded to at least: the maximum when the options ask for it,
    /// else 0 (each batch to its longest text).
    pub fn pad_to(&self) -> usize {
        if self.pad_to_max_length { self.max_length } else { 0 }
    }

    /// Tokens of `text` before truncation, special tokens included.
    pub fn count_tokens(&self, text: &str) -> Result<usize, TokenizeError> {
        let encoding = self.untruncated.encode_fast(text, true).map_err(TokenizeError::Encode)?;
        Ok(encoding.get_ids().len())
    }

    /// Tokens the model adds around every text (`[CLS]` and `[SEP]` for BERT: 2), so that
    /// `max_length() - special_tokens_count()` tokens of text fit.
    pub fn special_tokens_count(&self) -> usize {
        self.special_tokens
    }

    /// Byte ranges into `text` of its tokens, in order, without special tokens and without
    /// truncation. Every range starts and ends on a `char` boundary of `text`; tokens made
    /// from one character share its range, and characters the normalizer drops (combining
    /// accents of uncased models) belong to no range.
    pub fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>, TokenizeError> {
        // `encode` reports byte offsets into the original text (`encode_fast` reports none).
        let encoding = self.untruncated.encode(text, false).map_err(TokenizeError::Encode)?;
        Ok(encoding
            .get_offsets()
            .iter()
            .map(|&(start, end)| {
                let start = text.floor_char_boundary(start);
                let end = text.ceil_char_boundary(end.max(start));
                (start, end)
            })
            .collect())
    }
}

/// Bytes of text per token of the maximum length in the first window of a long text: far more
/// than any tokenizer of the manifest needs (about 4 to 6 bytes per token of English).
const WINDOW_BYTES_PER_TOKEN: usize = 16;

/// The smallest first window, in bytes.
const MIN_WINDOW_BYTES: usize = 4096;

/// The part of `text` a tokenizer truncating on `side` keeps when only about `size` bytes are
/// looked at: the start up to the first whitespace at or after `size` bytes (the whitespace
/// left out), or the end from the last whitespace at or before `size` bytes from the end (the
/// whitespace kept). Pre-tokenizers split at whitespace, so the tokens on the kept side of the
/// cut are those of the whole text. The whole text when it is shorter or has no such
/// whitespace.
fn window(text: &str, size: usize, side: TruncationSide) -> &str {
    if text.len() <= size {
        return text;
    }
    match side {
        TruncationSide::Right => {
            let from = text.ceil_char_boundary(size);
            match text[from..].find(char::is_whitespace) {
                Some(at) => &text[..from + at],
                None => text,
            }
        }
        TruncationSide::Left => {
            let to = text.floor_char_boundary(text.len() - size);
            match text[..to].rfind(char::is_whitespace) {
                Some(at) => &text[at..],
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model directory of the workspace's model cache (`MODEL_CACHE_DIR`, else `models/`).
    fn model_dir(name: &str) -> PathBuf {
        let root = std::env::var_os("MODEL_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
        let dir = root.join(name);
        assert!(dir.join("tokenizer.json").is_file(), "no {name} in {} (run `cargo xtask test`)", root.display());
        dir
    }

    #[test]
    fn the_window_cuts_at_whitespace_on_the_kept_side() {
        let text = "aaaa bbbb cccc";
        assert_eq!(window(text, 6, TruncationSide::Right), "aaaa bbbb");
        assert_eq!(window(text, 6, TruncationSide::Left), " bbbb cccc");
        assert_eq!(window(text, 100, TruncationSide::Right), text);
        assert_eq!(window("no-whitespace-at-all", 4, TruncationSide::Right), "no-whitespace-at-all");
        assert_eq!(window("ééé ééé", 3, TruncationSide::Right), "ééé");
    }

    #[test]
    fn long_texts_keep_the_tokens_of_the_whole_text() {
        let words = [
            "Rust",
            "embeds",
            "text,",
            "quickly;",
            "naïve",
            "café",
            "東京は大きい。",
            "unaffable",
            "e-mail",
            "3.14159",
            "🚀",
            "\u{0}",
            "\t",
            "(parenthesis)",
            "don't",
            "\n\n",
        ];
        let long: String = (0..40_000).map(|i| words[(i * 7 + i / 3) % words.len()]).collect::<Vec<_>>().join(" ");
        let spaced = long.replace(' ', "   \n ");
        let no_spaces = "x".repeat(50_000);
        let cjk = "東京は大きい。".repeat(5_000);
        // Words over 100 characters are one unknown token each: the first window holds fewer
        // tokens than the maximum, so it must grow.
        let sparse_start = format!("{}{long}", format!("{} ", "a".repeat(120)).repeat(200));
        for model in ["all-MiniLM-L6-v2", "all-mpnet-base-v2"] {
            let tokenizer = Tokenizer::from_dir(&model_dir(model), &TokenizerOptions::default()).unwrap();
            for side in [TruncationSide::Right, TruncationSide::Left] {
                for text in [&long, &spaced, &no_spaces, &cjk, &sparse_start] {
                    let whole = tokenizer.for_side(Some(side)).unwrap().encode_fast(text.as_str(), true).unwrap();
                    let windowed = tokenizer.tokenize_with(&[text.as_str()], Some(side)).unwrap().remove(0);
                    assert_eq!(windowed.ids, whole.get_ids(), "{model} {side:?} {}", &text[..20]);
                    assert_eq!(windowed.type_ids, whole.get_type_ids());
                    assert_eq!(windowed.truncated, !whole.get_overflowing().is_empty());
                }
            }
        }
    }
}
