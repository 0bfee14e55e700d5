//! Splitting a long document into chunks that each fit the model: windows of tokens with
//! overlap, or sentences or paragraphs packed up to a token budget.
//!
//! A chunk is a byte range of the document, so its text is always a slice of it (char
//! boundaries included). Token counts are estimated from one tokenization of the whole
//! document and every chunk is then checked by tokenizing its own text, so no chunk is ever
//! truncated by the model. This file knows the tokenizer only through its public API, and
//! nothing of ONNX Runtime or pooling.

use std::fmt;
use std::str::FromStr;

use embed_tokenize::Tokenizer;
use unicode_segmentation::UnicodeSegmentation;

use crate::EmbedError;

/// How a document is cut into chunks. Sizes count the tokens of a chunk's text, without the
/// special tokens (`[CLS]`, `[SEP]`) and prompt the model adds; `None` takes all the room the
/// model has (its maximum length minus those).
///
/// Parses from and prints as the CLI's `--chunk` spec:
///
/// ```
/// use embed_core::Chunking;
///
/// let spec: Chunking = "tokens:200:40".parse()?;
/// assert_eq!(spec, Chunking::Tokens { size: Some(200), overlap: 40 });
/// assert_eq!("sentences".parse::<Chunking>()?, Chunking::Sentences { max_tokens: None });
/// assert_eq!("paragraphs:300".parse::<Chunking>()?.to_string(), "paragraphs:300");
/// assert!("tokens:10:10".parse::<Chunking>().is_err());
/// # Ok::<(), embed_core::EmbedError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// Windows of `size` tokens, each starting `size - overlap` tokens after the one before
    /// (`tokens[:SIZE[:OVERLAP]]`; `tokens::OVERLAP` keeps the default size).
    Tokens {
        /// Tokens per window.
        size: Option<usize>,
        /// Tokens shared by consecutive windows; less than `size`.
        overlap: usize,
    },
    /// Consecutive sentences (Unicode sentence boundaries) packed up to `max_tokens`; a longer
    /// sentence is cut into windows of tokens (`sentences[:MAX_TOKENS]`).
    Sentences {
        /// Most tokens per chunk.
        max_tokens: Option<usize>,
    },
    /// Consecutive paragraphs (separated by blank lines) packed up to `max_tokens`; a longer
    /// paragraph is cut by sentences, then by tokens (`paragraphs[:MAX_TOKENS]`).
    Paragraphs {
        /// Most tokens per chunk.
        max_tokens: Option<usize>,
    },
}

const EXPECTED: &str = "expected tokens[:SIZE[:OVERLAP]], sentences[:MAX_TOKENS] or paragraphs[:MAX_TOKENS]";

impl FromStr for Chunking {
    type Err = EmbedError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| EmbedError::Chunking { spec: spec.to_string(), reason };
        let mut parts = spec.trim().split(':');
        let kind = parts.next().unwrap_or_default().to_ascii_lowercase();
        let numbers: Vec<&str> = parts.collect();
        // An empty field keeps its default (`tokens::40`).
        let number = |field: &str, what: &str| -> Result<Option<usize>, EmbedError> {
            if field.is_empty() {
                return Ok(None);
            }
            match field.parse::<usize>() {
                Ok(0) => Err(invalid(format!("{what} must be at least 1, found 0"))),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(invalid(format!("{what} must be a whole number, found `{field}`"))),
            }
        };
        let chunking = match (kind.as_str(), numbers.as_slice()) {
            ("tokens", []) => Self::Tokens { size: None, overlap: 0 },
            ("tokens", [size]) => Self::Tokens { size: number(size, "the size")?, overlap: 0 },
            ("tokens", [size, overlap]) => {
                let overlap = match overlap.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) if overlap.is_empty() => 0,
                    Err(_) => {
                        return Err(invalid(format!("the overlap must be a whole number, found `{overlap}`")));
                    }
                };
                Self::Tokens { size: number(size, "the size")?, overlap }
            }
            ("sentences", []) => Self::Sentences { max_tokens: None },
            ("sentences", [max]) => Self::Sentences { max_tokens: number(max, "the maximum")? },
            ("paragraphs", []) => Self::Paragraphs { max_tokens: None },
            ("paragraphs", [max]) => Self::Paragraphs { max_tokens: number(max, "the maximum")? },
            ("tokens" | "sentences" | "paragraphs", _) => {
                return Err(invalid(format!("too many fields; {EXPECTED}")));
            }
            _ => return Err(invalid(EXPECTED.to_string())),
        };
        if let Self::Tokens { size: Some(size), overlap } = chunking
            && overlap >= size
        {
            return Err(invalid(format!("the overlap ({overlap}) must be less than the size ({size})")));
        }
        Ok(chunking)
    }
}

impl fmt::Display for Chunking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Tokens { size: None, overlap: 0 } => f.write_str("tokens"),
            Self::Tokens { size: Some(size), overlap: 0 } => write!(f, "tokens:{size}"),
            Self::Tokens { size, overlap } => {
                write!(f, "tokens:{}:{overlap}", size.map(|s| s.to_string()).unwrap_or_default())
            }
            Self::Sentences { max_tokens: None } => f.write_str("sentences"),
            Self::Sentences { max_tokens: Some(max) } => write!(f, "sentences:{max}"),
            Self::Paragraphs { max_tokens: None } => f.write_str("paragraphs"),
            Self::Paragraphs { max_tokens: Some(max) } => write!(f, "paragraphs:{max}"),
        }
    }
}

/// One chunk of a document: the byte range `start..end` of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of the chunk's first character in the document.
    pub start: usize,
    /// Byte offset just past the chunk's last character.
    pub end: usize,
    /// Tokens of the chunk's text, without special tokens or prompt.
    pub tokens: usize,
}

impl Chunk {
    /// The chunk's text within `document` (the text it was cut from).
    pub fn text<'d>(&self, document: &'d str) -> &'d str {
        &document[self.start..self.end]
    }
}

/// Cuts `text` into chunks as `chunking` says, each within the tokenizer's maximum length
/// (special tokens included).
///
/// Chunks come in document order, trimmed of surrounding whitespace; whitespace alone makes no
/// chunk. Together they cover every non-whitespace character of the document (token windows
/// with overlap cover some twice). A document that is empty or only whitespace gives one chunk
/// of the whole text, so that it still gets the embedding an empty text gets.
pub(crate) fn chunk_document(text: &str, chunking: &Chunking, tokenizer: &Tokenizer) -> Result<Vec<Chunk>, EmbedError> {
    chunk_with_prompt(text, chunking, tokenizer, "")
}

impl crate::EmbeddingModel {
    /// Cuts `text` into chunks as `chunking` says, each within this model's maximum length
    /// (special tokens included).
    ///
    /// Chunks come in document order, trimmed of surrounding whitespace; whitespace alone makes
    /// no chunk. Together they cover every non-whitespace character of the document (token
    /// windows with overlap cover some twice). A document that is empty or only whitespace
    /// gives one chunk of the whole text, so that it still gets the embedding an empty text
    /// gets.
    pub fn chunk(&self, text: &str, chunking: &Chunking) -> Result<Vec<Chunk>, EmbedError> {
        chunk_document(text, chunking, &self.tokenizer)
    }
}

/// [`chunk_document`] leaving room for `prompt`, which the model puts before every chunk.
pub(crate) fn chunk_with_prompt(
    text: &str,
    chunking: &Chunking,
    tokenizer: &Tokenizer,
    prompt: &str,
) -> Result<Vec<Chunk>, EmbedError> {
    let chunker = Chunker::new(text, tokenizer, prompt, chunking)?;
    if text.trim().is_empty() {
        return Ok(vec![Chunk {
            start: 0,
            end: text.len(),
            tokens: chunker.count(0, text.len())?.saturating_sub(chunker.overhead),
        }]);
    }
    let mut chunks = Vec::new();
    match *chunking {
        Chunking::Tokens { overlap, .. } => chunker.windows(0, text.len(), overlap, &mut chunks)?,
        Chunking::Sentences { .. } => chunker.sentences(0, text.len(), &mut chunks)?,
        Chunking::Paragraphs { .. } => chunker.paragraphs(0, text.len(), &mut chunks)?,
    }
    if chunks.is_empty() {
        // Only reachable for text the tokenizer makes no tokens of and that trims to nothing.
        chunks.push(Chunk {
            start: 0,
            end: text.len(),
            tokens: chunker.count(0, text.len())?.saturating_sub(chunker.overhead),
        });
    }
    Ok(chunks)
}

struct Chunker<'a> {
    text: &'a str,
    tokenizer: &'a Tokenizer,
    prompt: &'a str,
    /// Byte ranges of the document's tokens, in order.
    spans: Vec<(usize, usize)>,
    /// Tokens the model sees besides a chunk's own: special tokens and the prompt.
    overhead: usize,
    /// Most tokens of text per chunk.
    limit: usize,
}

impl<'a> Chunker<'a> {
    fn new(text: &'a str, tokenizer: &'a Tokenizer, prompt: &'a str, chunking: &Chunking) -> Result<Self, EmbedError> {
        let invalid = |reason: String| EmbedError::Chunking { spec: chunking.to_string(), reason };
        let overhead = tokenizer.count_tokens(prompt)?;
        let room = tokenizer.max_length().saturating_sub(overhead);
        let what = if prompt.is_empty() { "special tokens" } else { "special tokens and the prompt" };
        if room == 0 {
            return Err(invalid(format!(
                "the model's {} tokens leave no room for text after {overhead} {what}",
                tokenizer.max_length()
            )));
        }
        let (requested, what_size) = match *chunking {
            Chunking::Tokens { size, overlap } => {
                let size = size.unwrap_or(room);
                if size == 0 || overlap >= size {
                    return Err(invalid(format!(
                        "the overlap ({overlap}) must be less than the size ({size}), and the size at least 1"
                    )));
                }
                (size, "size")
            }
            Chunking::Sentences { max_tokens } | Chunking::Paragraphs { max_tokens } => {
                let max = max_tokens.unwrap_or(room);
                if max == 0 {
                    return Err(invalid("the maximum must be at least 1, found 0".into()));
                }
                (max, "maximum")
            }
        };
        if requested > room {
            return Err(invalid(format!(
                "the {what_size} ({requested} tokens) exceeds the {room} tokens of text the model takes \
                 (its maximum length {} less {overhead} {what})",
                tokenizer.max_length()
            )));
        }
        Ok(Self { text, tokenizer, prompt, spans: tokenizer.token_spans(text)?, overhead, limit: requested })
    }

    /// Exact tokens the model sees for `start..end`: prompt and special tokens included.
    fn count(&self, start: usize, end: usize) -> Result<usize, EmbedError> {
        let slice = &self.text[start..end];
        let count = if self.prompt.is_empty() {
            self.tokenizer.count_tokens(slice)?
        } else {
            self.tokenizer.count_tokens(&format!("{}{slice}", self.prompt))?
        };
        Ok(count)
    }

    /// Index of the first token starting at or after byte `at`.
    fn token_at(&self, at: usize) -> usize {
        self.spans.partition_point(|&(start, _)| start < at)
    }

    /// Estimated tokens of `start..end`: the document's tokens that start inside it.
    fn estimate(&self, start: usize, end: usize) -> usize {
        self.token_at(end) - self.token_at(start)
    }

    /// `start..end` without surrounding whitespace; `None` when nothing is left.
    fn trim(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let slice = &self.text[start..end];
        let trimmed = slice.trim_start();
        let start = start + (slice.len() - trimmed.len());
        let end = start + trimmed.trim_end().len();
        (start < end).then_some((start, end))
    }

    /// Windows of at most `limit` tokens stepping `limit - overlap` over `lo..hi`.
    fn windows(&self, lo: usize, hi: usize, overlap: usize, out: &mut Vec<Chunk>) -> Result<(), EmbedError> {
        let (first, last) = (self.token_at(lo), self.token_at(hi));
        // Token indices a window may start or end at: not inside one character's tokens.
        let cuts: Vec<usize> = (first..=last)
            .filter(|&k| {
                k == first
                    || k == last
                    || (self.spans[k].0 > self.spans[k - 1].0 && self.spans[k].0 >= self.spans[k - 1].1)
            })
            .collect();
        // A window of tokens `a..b` spans from token `a` up to token `b`, so that characters
        // the tokenizer drops still belong to a chunk; the range's ends bound the first and last.
        let byte = |k: usize| {
            if k == first {
                lo
            } else if k == last {
                hi
            } else {
                self.spans[k].0
            }
        };
        if cuts.len() < 2 {
            // No tokens at all: keep the text as it is, if it is more than whitespace.
            if let Some((start, end)) = self.trim(lo, hi) {
                out.push(Chunk { start, end, tokens: self.count(start, end)?.saturating_sub(self.overhead) });
            }
            return Ok(());
        }
        // Position in `cuts` of the window's start.
        let mut a = 0;
        loop {
            let start_token = cuts[a];
            // The furthest cut within `limit` tokens, but at least the next one.
            let mut b = cuts.partition_point(|&k| k <= start_token + self.limit).saturating_sub(1).max(a + 1);
            let chunk = loop {
                let trimmed = self.trim(byte(start_token), byte(cuts[b]));
                let Some((start, end)) = trimmed else {
                    break None;
                };
                let tokens = self.count(start, end)?.saturating_sub(self.overhead);
                if tokens <= self.limit {
                    break Some(Chunk { start, end, tokens });
                }
                if b == a + 1 {
                    // One token's text that comes out longer alone (a piece of a word: `ffa`
                    // of `unaffable` is `ff ##a`) when the limit is a token or two: cut it by
                    // characters.
                    for chunk in self.by_chars(start, end)? {
                        if out.last().is_none_or(|last: &Chunk| last.end < chunk.end) {
                            out.push(chunk);
                        }
                    }
                    break None;
                }
                // Tokenized alone (cut inside a word), the text came out longer than in the
                // document: shrink.
                let excess = tokens - self.limit;
                b = cuts.partition_point(|&k| k + excess <= cuts[b]).saturating_sub(1).max(a + 1);
            };
            // With a large overlap, a window shrunk above may end where the one before did;
            // it adds nothing that one does not hold.
            if let Some(chunk) = chunk
                && out.last().is_none_or(|last: &Chunk| last.end < chunk.end)
            {
                out.push(chunk);
            }
            if b == cuts.len() - 1 {
                return Ok(());
            }
            let next = cuts.partition_point(|&k| k + overlap <= cuts[b]).saturating_sub(1);
            a = next.max(a + 1);
        }
    }

    /// `start..end` cut greedily into the longest runs of characters within the limit. A
    /// single character longer than the limit (a Hangul syllable splits into jamo) is a chunk
    /// of its own: nothing smaller exists.
    fn by_chars(&self, start: usize, end: usize) -> Result<Vec<Chunk>, EmbedError> {
        let mut chunks = Vec::new();
        let mut from = start;
        while from < end {
            let mut fitting: Option<Chunk> = None;
            for (offset, c) in self.text[from..end].char_indices() {
                let to = from + offset + c.len_utf8();
                let Some((s, e)) = self.trim(from, to) else {
                    continue;
                };
                let tokens = self.count(s, e)?.saturating_sub(self.overhead);
                if tokens > self.limit && fitting.is_some() {
                    break;
                }
                fitting = Some(Chunk { start: s, end: e, tokens });
                if tokens > self.limit {
                    break;
                }
            }
            let Some(chunk) = fitting else {
                break;
            };
            from = chunk.end;
            chunks.push(chunk);
        }
        Ok(chunks)
    }

    /// Sentences of `lo..hi` packed up to the limit; longer ones cut by tokens.
    fn sentences(&self, lo: usize, hi: usize, out: &mut Vec<Chunk>) -> Result<(), EmbedError> {
        let units: Vec<(usize, usize)> = self.text[lo..hi]
            .split_sentence_bound_indices()
            .map(|(offset, sentence)| (lo + offset, lo + offset + sentence.len()))
            .collect();
        self.pack(&units, out, &|chunker: &Self, start, end, out: &mut Vec<Chunk>| chunker.windows(start, end, 0, out))
    }

    /// Paragraphs of `lo..hi` packed up to the limit; longer ones cut by sentences.
    fn paragraphs(&self, lo: usize, hi: usize, out: &mut Vec<Chunk>) -> Result<(), EmbedError> {
        let units = paragraphs(&self.text[lo..hi]).into_iter().map(|(s, e)| (lo + s, lo + e)).collect::<Vec<_>>();
        self.pack(&units, out, &|chunker: &Self, start, end, out: &mut Vec<Chunk>| chunker.sentences(start, end, out))
    }

    /// Packs consecutive `units` (ordered byte ranges) greedily into chunks of at most the
    /// limit; a unit longer than that goes to `split`.
    fn pack(&self, units: &[(usize, usize)], out: &mut Vec<Chunk>, split: &Splitter<'a>) -> Result<(), EmbedError> {
        let mut group: Option<std::ops::Range<usize>> = None;
        for (index, &(start, end)) in units.iter().enumerate() {
            if self.estimate(start, end) > self.limit {
                if let Some(group) = group.take() {
                    self.flush(&units[group], out, split)?;
                }
                split(self, start, end, out)?;
                continue;
            }
            group = match group {
                Some(group) if self.estimate(units[group.start].0, end) <= self.limit => Some(group.start..index + 1),
                Some(group) => {
                    self.flush(&units[group], out, split)?;
                    Some(index..index + 1)
                }
                None => Some(index..index + 1),
            };
        }
        if let Some(group) = group {
            self.flush(&units[group], out, split)?;
        }
        Ok(())
    }

    /// Emits consecutive units as one chunk once its text, tokenized alone, is known to fit;
    /// else halves the group (a single unit goes to `split`).
    fn flush(&self, units: &[(usize, usize)], out: &mut Vec<Chunk>, split: &Splitter<'a>) -> Result<(), EmbedError> {
        let (Some(first), Some(last)) = (units.first(), units.last()) else {
            return Ok(());
        };
        let Some((start, end)) = self.trim(first.0, last.1) else {
            return Ok(());
        };
        let tokens = self.count(start, end)?.saturating_sub(self.overhead);
        if tokens <= self.limit {
            out.push(Chunk { start, end, tokens });
            return Ok(());
        }
        if units.len() == 1 {
            return split(self, start, end, out);
        }
        let (left, right) = units.split_at(units.len() / 2);
        self.flush(left, out, split)?;
        self.flush(right, out, split)
    }
}

/// How [`Chunker::pack`] cuts a unit longer than the limit.
type Splitter<'a> = dyn Fn(&Chunker<'a>, usize, usize, &mut Vec<Chunk>) -> Result<(), EmbedError>;

/// Byte ranges of the paragraphs of `text`: the text between runs of whitespace that hold at
/// least two line breaks (blank lines). Paragraphs keep their own inner whitespace.
fn paragraphs(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !c.is_whitespace() {
            continue;
        }
        let mut end = i + c.len_utf8();
        let mut breaks = usize::from(c == '\n');
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_whitespace() {
                break;
            }
            breaks += usize::from(d == '\n');
            end = j + d.len_utf8();
            chars.next();
        }
        if breaks >= 2 {
            if i > start {
                out.push((start, i));
            }
            start = end;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        let cases = [
            ("tokens", Chunking::Tokens { size: None, overlap: 0 }, "tokens"),
            ("tokens:200", Chunking::Tokens { size: Some(200), overlap: 0 }, "tokens:200"),
            ("tokens:200:40", Chunking::Tokens { size: Some(200), overlap: 40 }, "tokens:200:40"),
            ("tokens::40", Chunking::Tokens { size: None, overlap: 40 }, "tokens::40"),
            ("tokens:200:0", Chunking::Tokens { size: Some(200), overlap: 0 }, "tokens:200"),
            ("sentences", Chunking::Sentences { max_tokens: None }, "sentences"),
            ("Sentences:200", Chunking::Sentences { max_tokens: Some(200) }, "sentences:200"),
            ("paragraphs", Chunking::Paragraphs { max_tokens: None }, "paragraphs"),
            ("paragraphs:300", Chunking::Paragraphs { max_tokens: Some(300) }, "paragraphs:300"),
        ];
        for (spec, expected, printed) in cases {
            let parsed: Chunking = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(parsed, expected, "{spec}");
            assert_eq!(parsed.to_string(), printed, "{spec}");
            assert_eq!(printed.parse::<Chunking>().ok(), Some(parsed), "{printed}");
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let cases = [
            ("tokens:10:10", "invalid chunking `tokens:10:10`: the overlap (10) must be less than the size (10)"),
            ("tokens:0", "invalid chunking `tokens:0`: the size must be at least 1, found 0"),
            ("tokens:ten", "invalid chunking `tokens:ten`: the size must be a whole number, found `ten`"),
            ("tokens:10:x", "invalid chunking `tokens:10:x`: the overlap must be a whole number, found `x`"),
            ("sentences:0", "invalid chunking `sentences:0`: the maximum must be at least 1, found 0"),
            ("sentences:-3", "invalid chunking `sentences:-3`: the maximum must be a whole number, found `-3`"),
            (
                "paragraphs:1:2",
                "invalid chunking `paragraphs:1:2`: too many fields; expected tokens[:SIZE[:OVERLAP]], \
                 sentences[:MAX_TOKENS] or paragraphs[:MAX_TOKENS]",
            ),
            (
                "words",
                "invalid chunking `words`: expected tokens[:SIZE[:OVERLAP]], sentences[:MAX_TOKENS] or \
                 paragraphs[:MAX_TOKENS]",
            ),
            (
                "",
                "invalid chunking ``: expected tokens[:SIZE[:OVERLAP]], sentences[:MAX_TOKENS] or \
                 paragraphs[:MAX_TOKENS]",
            ),
        ];
        for (spec, message) in cases {
            let error = spec.parse::<Chunking>().expect_err(spec);
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn paragraphs_split_on_blank_lines_only() {
        let text = "  one\nstill one\n\n two \r\n \t\r\nthree\n \n\n";
        let got: Vec<&str> = paragraphs(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(got, ["  one\nstill one", "two", "three"]);
        assert!(paragraphs("").is_empty());
        assert!(paragraphs("\n\n\n").is_empty());
        assert_eq!(paragraphs("é\u{3000}\n\u{3000}\n漢字"), [(0, 2), (10, 16)]);
    }
}
