//! Reading texts from a file or standard input: one per line, or JSON Lines with a "text"
//! field. Invalid UTF-8 or JSON is an error naming the line.

use std::io::Read;

use anyhow::{Context, bail};

/// The bytes of `source`: a path, or `-` for standard input.
fn read_source(source: &str) -> anyhow::Result<Vec<u8>> {
    if source == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("cannot read standard input")?;
        Ok(buf)
    } else {
        std::fs::read(source).with_context(|| format!("cannot read {source}"))
    }
}

/// Reads the texts of `source` (a path, or `-` for standard input).
pub fn read_texts(source: &str) -> anyhow::Result<Vec<String>> {
    let bytes = read_source(source)?;
    let jsonl = source.ends_with(".jsonl");
    parse_texts(&bytes, jsonl).with_context(|| format!("in {}", if source == "-" { "standard input" } else { source }))
}

/// Reads all of `source` (a path, or `-` for standard input) as one document.
pub fn read_document(source: &str) -> anyhow::Result<String> {
    let bytes = read_source(source)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        anyhow::anyhow!("in {source}: line {line}: invalid UTF-8")
    })
}

/// Splits `bytes` into texts: a line each (a final newline ends the last line, `\r\n` is
/// accepted), or the "text" field of each JSON Lines object (blank lines skipped).
pub fn parse_texts(bytes: &[u8], jsonl: bool) -> anyhow::Result<Vec<String>> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut texts = Vec::new();
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|e| anyhow::anyhow!("line {line_no}: invalid UTF-8 at byte {} of the line", e.valid_up_to()))?;
        if !jsonl {
            texts.push(line.to_string());
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {line_no}: invalid JSON"))?;
        match value.get("text") {
            Some(serde_json::Value::String(text)) => texts.push(text.clone()),
            Some(_) => bail!("line {line_no}: \"text\" is not a string"),
            None => bail!("line {line_no}: no \"text\" field"),
        }
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::parse_texts;

    #[test]
    fn lines_keep_empty_texts_but_not_the_final_newline() {
        assert_eq!(parse_texts(b"a\r\n\nb\n", false).unwrap(), ["a", "", "b"]);
        assert!(parse_texts(b"", false).unwrap().is_empty());
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let err = parse_texts(b"ok\nbad \xff\n", false).unwrap_err();
        assert_eq!(format!("{err:#}"), "line 2: invalid UTF-8 at byte 4 of the line");
    }

    #[test]
    fn jsonl_reads_the_text_field_and_names_bad_lines() {
        assert_eq!(parse_texts(b"{\"text\":\"x\"}\n\n{\"text\":\"y\",\"id\":2}\n", true).unwrap(), ["x", "y"]);
        let err = parse_texts(b"{\"text\":\"x\"}\n{\"id\":1}\n", true).unwrap_err();
        assert_eq!(format!("{err:#}"), "line 2: no \"text\" field");
        let err = parse_texts(b"{oops\n", true).unwrap_err();
        assert!(format!("{err:#}").starts_with("line 1: invalid JSON: "));
    }
}
