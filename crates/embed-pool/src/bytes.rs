//! Parsing byte sizes written with units, such as `500MiB`, `2GB` or `1.5GiB`.
//!
//! Pure text to number: this file must not know about pools or models.

use crate::PoolError;

const EXPECTED: &str = "a non-negative number with an optional unit: B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 500MiB, 2GB, 1.5GiB, 1048576";

/// Parses a byte size: a plain number of bytes, or a number followed by a unit.
///
/// Units are case-insensitive and may be separated from the number by spaces: `B`; `kB`, `MB`,
/// `GB`, `TB` (powers of 1000); `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024). A fraction is
/// allowed with a unit larger than a byte and is rounded down to a whole byte
/// (`1.5GiB` is 1610612736); a fraction of a single byte is an error.
///
/// ```
/// use embed_pool::parse_bytes;
/// assert_eq!(parse_bytes("500MiB")?, 500 * 1024 * 1024);
/// assert_eq!(parse_bytes("2GB")?, 2_000_000_000);
/// assert_eq!(parse_bytes("1.5GiB")?, 1_610_612_736);
/// assert_eq!(parse_bytes("4096")?, 4096);
/// assert!(parse_bytes("lots").is_err());
/// # Ok::<(), embed_pool::PoolError>(())
/// ```
///
/// # Errors
///
/// [`PoolError::InvalidBytes`], naming the value and what was expected, when the text is
/// empty, has no number, has an unknown unit, is a fraction of a byte, or exceeds `u64`.
pub fn parse_bytes(text: &str) -> Result<u64, PoolError> {
    let invalid = |expected: &'static str| PoolError::InvalidBytes { value: text.to_owned(), expected };
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000_u64.pow(2),
        "gb" => 1000_u64.pow(3),
        "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(invalid(EXPECTED)),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(invalid(EXPECTED));
    }
    if fraction.contains('.') {
        return Err(invalid(EXPECTED));
    }
    if multiplier == 1 && number.contains('.') {
        return Err(invalid("a whole number of bytes"));
    }
    let too_large = || invalid("a size that fits in 64 bits (at most 16 EiB)");
    let mut value: u128 = 0;
    for digit in whole.bytes() {
        value = value.checked_mul(10).and_then(|v| v.checked_add(u128::from(digit - b'0'))).ok_or_else(too_large)?;
    }
    value = value.checked_mul(u128::from(multiplier)).ok_or_else(too_large)?;
    // The fraction: digits beyond the 19th cannot change a whole byte count below 2^64.
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    for digit in fraction.bytes().take(19) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    value += numerator * u128::from(multiplier) / denominator;
    u64::try_from(value).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_table() {
        let table: &[(&str, u64)] = &[
            ("0", 0),
            ("1", 1),
            ("1048576", 1_048_576),
            ("12B", 12),
            ("12 b", 12),
            ("1kB", 1000),
            ("1KiB", 1024),
            ("500MiB", 500 * 1024 * 1024),
            ("500mib", 500 * 1024 * 1024),
            ("500 MiB", 500 * 1024 * 1024),
            ("  2GB  ", 2_000_000_000),
            ("1.5GiB", 1_610_612_736),
            ("0.5KiB", 512),
            ("1.1KiB", 1126),
            (".5MiB", 512 * 1024),
            ("1.MiB", 1024 * 1024),
            ("3TB", 3_000_000_000_000),
            ("2TiB", 2 << 40),
            ("18446744073709551615", u64::MAX),
        ];
        for &(text, expected) in table {
            assert_eq!(parse_bytes(text).ok(), Some(expected), "parsing {text:?}");
        }
    }

    #[test]
    fn rejects_bad_values_with_a_clear_message() {
        for text in [
            "",
            " ",
            "MiB",
            "lots",
            "-1",
            "1.5",
            "1.5B",
            "1..2GiB",
            "1.2.3GiB",
            "10 PB",
            "1e9",
            "5 MiBs",
            "18446744073709551616",
            "16777216TiB",
        ] {
            let err = parse_bytes(text).expect_err(text);
            let message = err.to_string();
            assert!(message.starts_with(&format!("invalid byte size {text:?}: expected ")), "{message}");
        }
        let message = parse_bytes("1.5").expect_err("fraction").to_string();
        assert_eq!(message, "invalid byte size \"1.5\": expected a whole number of bytes");
        let message = parse_bytes("2 parsecs").expect_err("unit").to_string();
        assert!(message.contains("KiB, MiB, GiB"), "{message}");
    }
}
