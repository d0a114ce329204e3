//! What Lookout understands of a payload: its kind, a number to chart, and a short preview.

/// How a payload is stored and shown. Matches the `payload_kind` type in PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// Not UTF-8: shown by size only.
    Binary,
    /// UTF-8 that is not JSON (including the empty payload and malformed JSON).
    Text,
    /// A complete JSON value: object, array, string, number, boolean or null.
    Json,
}

impl PayloadKind {
    pub fn of(payload: &[u8]) -> Self {
        match std::str::from_utf8(payload) {
            Err(_) => PayloadKind::Binary,
            Ok(text) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
                PayloadKind::Json
            }
            Ok(_) => PayloadKind::Text,
        }
    }

    pub fn as_sql(self) -> &'static str {
        match self {
            PayloadKind::Binary => "binary",
            PayloadKind::Text => "text",
            PayloadKind::Json => "json",
        }
    }
}

/// The payload as a number: a plain number (`21.5`), a JSON number, or a JSON object whose
/// top-level fields hold exactly one number (`{"temperature": 21.5, "unit": "C"}`). Objects with
/// several numbers are ambiguous, so they get none; the payload itself is always kept.
pub fn numeric_value(payload: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(number) = text.parse::<f64>() {
        return number.is_finite().then_some(number);
    }
    if !text.starts_with('{') {
        return None;
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    let mut numbers = object.values().filter_map(serde_json::Value::as_f64);
    match (numbers.next(), numbers.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// Longest preview shown in lists, in characters.
pub const PREVIEW_CHARS: usize = 120;

/// A one-line rendering of a payload prefix for lists. `total_len` is the full payload length,
/// since callers usually fetch only a prefix of large payloads.
pub fn preview(prefix: &[u8], total_len: usize) -> String {
    let text = match std::str::from_utf8(prefix) {
        Ok(text) => text,
        // A prefix may cut a multi-byte character in two; what decodes before the cut is text.
        Err(error) if error.error_len().is_none() && error.valid_up_to() > 0 => {
            std::str::from_utf8(&prefix[..error.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return format!("binary, {total_len} bytes"),
    };
    if total_len == 0 {
        return "(empty)".to_owned();
    }
    let mut one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(PREVIEW_CHARS)
        .collect();
    if one_line.len() < total_len {
        one_line.push('…');
    }
    one_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_classified_as_json_text_or_binary() {
        assert_eq!(PayloadKind::of(br#"{"a": [1, 2]}"#), PayloadKind::Json);
        assert_eq!(PayloadKind::of(b" 21.5 "), PayloadKind::Json);
        assert_eq!(PayloadKind::of(br#""quoted""#), PayloadKind::Json);
        assert_eq!(PayloadKind::of(b"true"), PayloadKind::Json);
        assert_eq!(PayloadKind::of(b"on"), PayloadKind::Text);
        assert_eq!(PayloadKind::of(b""), PayloadKind::Text);
        assert_eq!(PayloadKind::of(br#"{"a": 1"#), PayloadKind::Text);
        assert_eq!(PayloadKind::of(br#"{"a": 1} trailing"#), PayloadKind::Text);
        assert_eq!(PayloadKind::of(&[0xff, 0xfe, 0x00]), PayloadKind::Binary);
    }

    /// Random bytes and JSON-looking fragments never panic, and only invalid UTF-8 is binary.
    #[test]
    fn classifying_arbitrary_bytes_never_panics() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            // xorshift: reproducible, and no dependency for it
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = br#"{}[]":,0123456789.-eE truefalsnul\"#;
        for round in 0..20_000 {
            let len = (next() % 64) as usize;
            let payload: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    } else {
                        r as u8
                    }
                })
                .collect();
            let kind = PayloadKind::of(&payload);
            assert_eq!(
                kind == PayloadKind::Binary,
                std::str::from_utf8(&payload).is_err()
            );
            let _ = numeric_value(&payload);
            let _ = preview(&payload, payload.len());
        }
    }

    #[test]
    fn plain_numbers_and_single_number_objects_have_a_value() {
        assert_eq!(numeric_value(b"21.5"), Some(21.5));
        assert_eq!(numeric_value(b" -3 \n"), Some(-3.0));
        assert_eq!(
            numeric_value(br#"{"temperature": 21.5, "unit": "C"}"#),
            Some(21.5)
        );
    }

    #[test]
    fn text_ambiguous_objects_and_non_finite_numbers_have_none() {
        assert_eq!(numeric_value(b"on"), None);
        assert_eq!(numeric_value(b""), None);
        assert_eq!(numeric_value(br#"{"a": 1, "b": 2}"#), None);
        assert_eq!(numeric_value(b"[1]"), None);
        assert_eq!(numeric_value(b"NaN"), None);
        assert_eq!(numeric_value(b"inf"), None);
        assert_eq!(numeric_value(&[0xff, 0xfe]), None);
    }

    #[test]
    fn previews_are_one_line_and_cut_long_text() {
        assert_eq!(preview(b"21.5", 4), "21.5");
        assert_eq!(preview(b"a\nb", 3), "a b");
        assert_eq!(preview(b"", 0), "(empty)");
        let long = "x".repeat(300);
        let shown = preview(long.as_bytes(), 300);
        assert_eq!(shown.chars().count(), PREVIEW_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn binary_payloads_are_described_not_printed() {
        assert_eq!(preview(&[0xff, 0x00, 0x12], 3), "binary, 3 bytes");
    }

    #[test]
    fn a_prefix_cut_inside_a_character_still_previews_as_text() {
        let text = "température";
        let cut = &text.as_bytes()[..5]; // ends inside "é"
        assert_eq!(preview(cut, text.len()), "temp…");
    }
}
