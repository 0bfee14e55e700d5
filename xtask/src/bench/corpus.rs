//! The corpora the engines run on, read from `data/`: the STS-B test sentences (short, mixed
//! lengths) and the passages (about 150 tokens each). Knows nothing of engines.

use std::path::Path;

use anyhow::{Context, bail};

/// A corpus of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    /// Both sentences of each STS-B test row, in file order.
    Stsb,
    /// `data/passages/passages.txt`, one passage per line.
    Passages,
}

impl Corpus {
    /// Both corpora, the short one first.
    pub const ALL: [Corpus; 2] = [Corpus::Stsb, Corpus::Passages];

    /// Its name in section titles and file names.
    pub fn name(self) -> &'static str {
        match self {
            Corpus::Stsb => "STS-B",
            Corpus::Passages => "passages",
        }
    }

    /// What it holds, for the report.
    pub fn describe(self, texts: usize) -> String {
        match self {
            Corpus::Stsb => format!(
                "the {texts} sentences of the STS-B test split (`data/stsb/stsb-en-test.csv`, both sentences of \
                 each row, in file order)"
            ),
            Corpus::Passages => format!(
                "the {texts} passages of `data/passages/passages.txt` (150 to 191 tokens each, made from the \
                 STS-B dev sentences)"
            ),
        }
    }

    /// Its texts, from the workspace at `root`.
    pub fn read(self, root: &Path) -> anyhow::Result<Vec<String>> {
        let texts = match self {
            Corpus::Stsb => read_stsb(&root.join("data").join("stsb").join("stsb-en-test.csv"))?,
            Corpus::Passages => {
                let path = root.join("data").join("passages").join("passages.txt");
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
            }
        };
        if texts.is_empty() {
            bail!("the {} corpus holds no texts", self.name());
        }
        Ok(texts)
    }
}

/// The STS-B test file's sentences: both columns of each row, in file order (RFC 4180 quoting).
fn read_stsb(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (line_no, record) in parse_csv(&text).into_iter().enumerate() {
        if record.iter().all(String::is_empty) {
            continue;
        }
        if record.len() < 2 {
            bail!("{}: record {} has {} fields, expected 3", path.display(), line_no + 1, record.len());
        }
        for sentence in &record[..2] {
            if sentence.contains('\n') {
                bail!("{}: record {} holds a line break", path.display(), line_no + 1);
            }
            out.push(sentence.clone());
        }
    }
    Ok(out)
}

/// Parses CSV: comma-separated fields, double quotes around fields holding commas, quotes or
/// line breaks, `""` for a quote inside one.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_keep_quoted_commas_and_quotes() {
        let text = "a,b,1.0\n\"x, y\",\"say \"\"hi\"\"\",2\r\nlast,row,3";
        assert_eq!(parse_csv(text), [vec!["a", "b", "1.0"], vec!["x, y", "say \"hi\"", "2"], vec!["last", "row", "3"]]);
    }

    #[test]
    fn the_committed_corpora_read() {
        let root = crate::paths::workspace_root();
        assert_eq!(Corpus::Stsb.read(&root).unwrap().len(), 2758);
        assert_eq!(Corpus::Passages.read(&root).unwrap().len(), 264);
    }
}
