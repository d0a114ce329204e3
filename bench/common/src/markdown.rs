//! Numbers as the benchmark reports write them, and the `key=value` lines the run scripts hand
//! to them.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// `key=value` lines (machine, versions, parameters) written by a run script.
pub fn read_meta(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// A whole number with thousands separators: `12,345`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds, with a decimal below 10.
pub fn ms(value: f64) -> String {
    if value.is_nan() {
        "–".to_owned()
    } else if value < 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// A share of one core, or a dash when not measured.
pub fn pct(value: Option<f64>) -> String {
    value.map_or("–".to_owned(), |v| format!("{v:.0} %"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_the_reports() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(ms(1.25), "1.2 ms");
        assert_eq!(ms(12.5), "12 ms");
        assert_eq!(mib(2048), "2 MiB");
        assert_eq!(pct(None), "–");
    }
}
