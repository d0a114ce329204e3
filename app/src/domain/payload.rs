//! What Lookout understands of a payload: its kind, a number to chart, a short preview, and how
//! a page shows it whole. Plain `std` and serde, so the browser renders payloads the same way.

use std::borrow::Cow;
use std::collections::HashMap;

/// How a payload is stored and shown. Matches the `payload_kind` type in PostgreSQL, and the
/// `kind` of the live stream's events (docs/live.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

    pub fn from_sql(text: &str) -> Option<Self> {
        [PayloadKind::Binary, PayloadKind::Text, PayloadKind::Json]
            .into_iter()
            .find(|kind| kind.as_sql() == text)
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
    // Ingest asks this of every message: the object's fields are read without building it, and
    // only the numbers are kept.
    serde_json::from_str::<TopLevelNumbers>(text).ok()?.only()
}

/// A payload's kind and its number together, exactly as [`PayloadKind::of`] and
/// [`numeric_value`] give them, reading a JSON object once rather than twice: the writer and
/// every live frame ask both of each message.
pub fn kind_and_value(payload: &[u8]) -> (PayloadKind, Option<f64>) {
    if let Ok(text) = std::str::from_utf8(payload) {
        let trimmed = text.trim();
        // Nothing but JSON's own whitespace around the object: then the object `numeric_value`
        // reads is the whole document `PayloadKind::of` judges.
        if trimmed.starts_with('{')
            && trimmed.len() == text.trim_matches([' ', '\t', '\n', '\r']).len()
        {
            return match serde_json::from_str::<TopLevelNumbers>(trimmed) {
                // Read whole, it is JSON: the kind's check only skips over what was read.
                Ok(numbers) => (PayloadKind::Json, numbers.only()),
                Err(_) => (PayloadKind::of(payload), None),
            };
        }
    }
    (PayloadKind::of(payload), numeric_value(payload))
}

/// The numbers among an object's top-level fields, by key, as a parsed object would hold them:
/// a key given twice counts once, with its last value.
#[derive(Default)]
struct TopLevelNumbers<'a> {
    /// Few fields hold numbers, and a list is quicker than hashing for them...
    few: Vec<(Cow<'a, str>, f64)>,
    /// ... but an object of thousands of numbers must not cost a search through them per field.
    many: HashMap<Cow<'a, str>, f64>,
}

/// Fields up to this many are kept in the list.
const FEW_NUMBERS: usize = 8;

impl<'a> TopLevelNumbers<'a> {
    fn set(&mut self, key: Cow<'a, str>, number: Option<f64>) {
        if !self.many.is_empty() {
            match number {
                Some(number) => self.many.insert(key, number),
                None => self.many.remove(&key),
            };
            return;
        }
        let found = self.few.iter().position(|(seen, _)| *seen == key);
        match (found, number) {
            (Some(index), Some(number)) => self.few[index].1 = number,
            (Some(index), None) => {
                self.few.swap_remove(index);
            }
            (None, Some(number)) if self.few.len() < FEW_NUMBERS => self.few.push((key, number)),
            (None, Some(number)) => {
                self.many = self.few.drain(..).collect();
                self.many.insert(key, number);
            }
            (None, None) => {}
        }
    }

    fn only(&self) -> Option<f64> {
        match (self.few.as_slice(), self.many.len()) {
            ([(_, only)], 0) => Some(*only),
            ([], 1) => self.many.values().next().copied(),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for TopLevelNumbers<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = TopLevelNumbers<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut fields: A,
            ) -> Result<Self::Value, A::Error> {
                let mut numbers = TopLevelNumbers::default();
                while let Some(Key(key)) = fields.next_key()? {
                    let Field(number) = fields.next_value()?;
                    numbers.set(key, number);
                }
                Ok(numbers)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// An object's key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// A field's value: its number, if it is one (as `serde_json::Value::as_f64` reads it);
/// anything else is read through, as `serde_json::Value` would read it, and dropped.
struct Field(Option<f64>);

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> serde::de::Visitor<'de> for Value {
            type Value = Field;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON value")
            }

            fn visit_u64<E>(self, number: u64) -> Result<Field, E> {
                Ok(Field(Some(number as f64)))
            }

            fn visit_i64<E>(self, number: i64) -> Result<Field, E> {
                Ok(Field(Some(number as f64)))
            }

            fn visit_f64<E>(self, number: f64) -> Result<Field, E> {
                // `serde_json::Value` holds a non-finite float as null.
                Ok(Field(number.is_finite().then_some(number)))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Field, E> {
                Ok(Field(None))
            }

            fn visit_str<E>(self, _: &str) -> Result<Field, E> {
                Ok(Field(None))
            }

            fn visit_unit<E>(self) -> Result<Field, E> {
                Ok(Field(None))
            }

            // What is nested is read as a parsed object reads it (not skipped over as
            // `IgnoredAny` would): a number out of range or a lone surrogate anywhere inside
            // makes the whole payload no object, as it did.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut items: A,
            ) -> Result<Field, A::Error> {
                while items.next_element::<Field>()?.is_some() {}
                Ok(Field(None))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut fields: A,
            ) -> Result<Field, A::Error> {
                while fields.next_entry::<Key, Field>()?.is_some() {}
                Ok(Field(None))
            }
        }
        deserializer.deserialize_any(Value)
    }
}

/// The value at `pointer` (RFC 6901, as `/a/0/b`) of a JSON payload: exactly what
/// `serde_json::from_slice::<Value>(payload).ok()?.pointer(pointer).cloned()` gives, but only
/// that value is built. The alert engine asks this of every message a rule watches, and a
/// parsed document costs an allocation per key and string where the rule wants one number.
///
/// Everything else is still read through as a parsed document reads it (not skipped over as
/// `IgnoredAny` would), so a payload that would not parse, anywhere, has no field, and a key
/// given twice counts with its last value.
pub fn json_at_pointer(payload: &[u8], pointer: &str) -> Option<serde_json::Value> {
    use serde::de::DeserializeSeed as _;
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return None;
    }
    // Invalid UTF-8 anywhere fails a parse too (in a string, or as a syntax error outside one).
    let text = std::str::from_utf8(payload).ok()?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let found = AtPointer(pointer).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    found
}

/// The rest of a JSON pointer, `/`-separated tokens still escaped (`~1` for `/`, `~0` for `~`),
/// or empty for the value itself; reads that value, or `None` when it is not there.
struct AtPointer<'p>(&'p str);

impl AtPointer<'_> {
    /// The first token, still escaped, and the pointer after it.
    fn split(&self) -> (&str, AtPointer<'_>) {
        let rest = &self.0[1..];
        match rest.find('/') {
            Some(end) => (&rest[..end], AtPointer(&rest[end..])),
            None => (rest, AtPointer("")),
        }
    }
}

/// Whether an escaped pointer token names `key`.
fn token_names(token: &str, key: &str) -> bool {
    if token.contains('~') {
        // In serde_json's order: `~01` is the key `~1`.
        token.replace("~1", "/").replace("~0", "~") == key
    } else {
        token == key
    }
}

/// An array index as a pointer token gives it: digits without a sign or a leading zero.
fn token_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

impl<'de> serde::de::DeserializeSeed<'de> for AtPointer<'_> {
    type Value = Option<serde_json::Value>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        use serde::Deserialize as _;
        if self.0.is_empty() {
            return serde_json::Value::deserialize(deserializer).map(Some);
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AtPointer<'_> {
    type Value = Option<serde_json::Value>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut fields: A,
    ) -> Result<Self::Value, A::Error> {
        let (token, rest) = self.split();
        let mut found = None;
        while let Some(Key(key)) = fields.next_key()? {
            if token_names(token, &key) {
                // A later duplicate replaces what an earlier one held, found or not.
                found = fields.next_value_seed(AtPointer(rest.0))?;
            } else {
                fields.next_value::<Field>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> Result<Self::Value, A::Error> {
        let (token, rest) = self.split();
        let wanted = token_index(token);
        let mut found = None;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match items.next_element_seed(AtPointer(rest.0))? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if items.next_element::<Field>()?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(found)
    }

    // A scalar has no fields: whatever the pointer names in it is not there.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Longest preview shown in lists, in characters.
pub const PREVIEW_CHARS: usize = 120;

/// A one-line rendering of a payload prefix for lists. `total_len` is the full payload length,
/// since callers usually fetch only a prefix of large payloads.
pub fn preview(prefix: &[u8], total_len: usize) -> String {
    let Some(text) = text_of_prefix(prefix) else {
        return format!("binary, {total_len} bytes");
    };
    if total_len == 0 {
        return "(empty)".to_owned();
    }
    // ASCII, as most payloads are: a byte is a character, and its control characters are
    // exactly the ASCII ones.
    let head = &text.as_bytes()[..text.len().min(PREVIEW_CHARS)];
    let mut one_line: String = if head.is_ascii() {
        head.iter()
            .map(|&b| {
                if b.is_ascii_control() {
                    ' '
                } else {
                    char::from(b)
                }
            })
            .collect()
    } else {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(PREVIEW_CHARS)
            .collect()
    };
    if one_line.len() < total_len {
        one_line.push('…');
    }
    one_line
}

/// A payload prefix as text, or `None` when it is not UTF-8. A prefix may cut a multi-byte
/// character in two; what decodes before the cut is text.
pub fn text_of_prefix(prefix: &[u8]) -> Option<&str> {
    match std::str::from_utf8(prefix) {
        Ok(text) => Some(text),
        Err(error) if error.error_len().is_none() && error.valid_up_to() > 0 => {
            std::str::from_utf8(&prefix[..error.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// How many bytes of a payload a page shows whole: the live stream's limit too (docs/live.md),
/// so a value from the stream and one from the database look alike.
pub const SHOWN_PAYLOAD_BYTES: usize = 4096;

/// How many leading bytes of a binary payload a page shows in hex.
pub const SHOWN_BINARY_BYTES: usize = 32;

/// Bytes as lower-case hex pairs separated by spaces: `de ad be ef`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 3);
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            text.push(' ');
        }
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

/// JSON text indented two spaces per level. It re-spaces the text rather than parsing it, so keys
/// keep their order and numbers their exact digits (a parse would sort keys and round large
/// numbers), and a payload cut at [`SHOWN_PAYLOAD_BYTES`] still indents as far as it goes.
pub fn pretty_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    // An opening bracket waits for the next character, so `{}` and `[]` stay on one line.
    let mut just_opened = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let empty = std::mem::take(&mut just_opened);
        if empty && !matches!(c, '}' | ']') {
            newline(&mut out, depth);
        }
        match c {
            '{' | '[' => {
                out.push(c);
                depth += 1;
                just_opened = true;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if !empty {
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '"' => {
                out.push(c);
                in_string = true;
            }
            _ => out.push(c),
        }
    }
    out
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

    /// What `json_at_pointer` stands for: the reference the tests below hold it to.
    fn value_at_pointer_of_a_parsed_document(
        payload: &[u8],
        pointer: &str,
    ) -> Option<serde_json::Value> {
        serde_json::from_slice::<serde_json::Value>(payload)
            .ok()?
            .pointer(pointer)
            .cloned()
    }

    const POINTERS: [&str; 24] = [
        "", "/", "/a", "/a/b", "/a/0", "/a/1/b", "/b", "/0", "/1", "/01", "/+1", "/-", "/a~1b",
        "/a~0b", "/~01", "/~1", "/a/b/c", "/é", "/t\"q", "a", " /a", "/arr/1/b", "/arr/2/1",
        "/arr/3",
    ];

    fn assert_read_as_parsed(payload: &[u8]) {
        for pointer in POINTERS {
            assert_eq!(
                json_at_pointer(payload, pointer),
                value_at_pointer_of_a_parsed_document(payload, pointer),
                "{pointer:?} of {:?}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn a_field_at_a_pointer_is_what_a_parsed_document_holds_there() {
        let deep = format!("{}1{}", "[".repeat(127), "]".repeat(127));
        let too_deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let many_fields = format!(
            "{{{}\"a\": 42}}",
            (0..10_000)
                .map(|n| format!("\"f{n}\": {n}, "))
                .collect::<String>()
        );
        let long_string = format!(r#"{{"pad": "{}", "a": {{"b": 1.5}}}}"#, "x".repeat(1 << 20));
        let documents: Vec<&[u8]> = vec![
            br#"{"a": {"b": 1, "0": "zero", "c": [true, null]}, "b": -2.5e3}"#,
            br#"{"arr": [10, {"b": "x"}, [1, 2], {}], "a~b": 1, "a/b": 2, "~1": 3, "": 4}"#,
            br#"{"a": [{"b": 7}, {"b": 8}], "0": "key zero", "01": 1, "-": 2}"#,
            r#"{"é": "accent", "t\"q": "quote", "\u0061": "escaped key a"}"#.as_bytes(),
            br#"{"a": 1, "a": {"b": 2}}"#,
            br#"{"a": {"b": 2}, "a": 1}"#,
            br#"{"a": {"b": 1}, "a": {"c": 2}}"#,
            br#"{"a": {"b": 1}, "a": {"b": 3}}"#,
            br#"[1, {"a": 2}, [3, 4]]"#,
            br#"[[{"b": 1}], {"b": [5, 6]}]"#,
            br#"{"a": {"b": "line\nbreak \"quoted\" \u00e9 \ud83d\ude00 \\"}}"#,
            br#"{"a": {"b": {"c": [1, {"d": null}]}}}"#,
            br#"{"a": 18446744073709551616, "b": -9223372036854775809}"#,
            br#"{"a": 18446744073709551615, "b": -9223372036854775808}"#,
            br#"{"a": 1.7976931348623157e308, "b": -0, "c": 1e-400, "d": 0.1}"#,
            br#"{"a": 1.0, "b": 100, "c": 1E2, "d": 2.50}"#,
            br#"  {"a" : { "b" :1 } }  "#,
            b"21.5",
            b" 7 ",
            br#""text""#,
            b"true",
            b"null",
            b"[]",
            b"{}",
            // Malformed somewhere: no field at all.
            br#"{"a": 1"#,
            br#"{"a": 1} trailing"#,
            br#"{"a": 1}{"a": 2}"#,
            br#"{"a": 1, "b": 1e400}"#,
            br#"{"a": 1, "b": "\ud800"}"#,
            br#"{"a": 1, "b": "\x"}"#,
            b"{\"a\": 1, \"b\": \"\x01\"}",
            b"{\"a\": 1, \"b\": \"\xff\"}",
            b"{\"a\": 1, \"\xff\": 2}",
            br#"{"a": [1, 2,], "b": 1}"#,
            br#"{"a": 01}"#,
            br#"{"a": 1,}"#,
            br#"{a: 1}"#,
            b"",
            b"   ",
            b"\xff\xfe",
            deep.as_bytes(),
            too_deep.as_bytes(),
            many_fields.as_bytes(),
            long_string.as_bytes(),
        ];
        for payload in documents {
            assert_read_as_parsed(payload);
        }
        assert_eq!(
            json_at_pointer(br#"{"a": {"b": 21.5}}"#, "/a/b"),
            Some(serde_json::json!(21.5))
        );
    }

    /// Documents built at random from keys a pointer names, every kind of value, escapes and
    /// numbers out of range, then some of them broken by a byte: the field is always the one a
    /// parsed document holds.
    #[test]
    fn fields_of_random_documents_are_read_as_parsed() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        fn value(depth: u32, next: &mut dyn FnMut() -> u64, out: &mut String) {
            const KEYS: [&str; 10] = ["a", "b", "0", "1", "a~b", "a/b", "~1", "", "\\u0061", "-"];
            const SCALARS: [&str; 12] = [
                "1",
                "-0",
                "2.5",
                "1e400",
                "18446744073709551616",
                "0.1e-2",
                "true",
                "null",
                "\"x\"",
                "\"\\ud800\"",
                "\"é\\n\"",
                "-7",
            ];
            match next() % if depth >= 4 { 1 } else { 3 } {
                0 => out.push_str(SCALARS[(next() % SCALARS.len() as u64) as usize]),
                1 => {
                    out.push('[');
                    for index in 0..next() % 4 {
                        if index > 0 {
                            out.push(',');
                        }
                        value(depth + 1, next, out);
                    }
                    out.push(']');
                }
                _ => {
                    out.push('{');
                    for index in 0..next() % 4 {
                        if index > 0 {
                            out.push(',');
                        }
                        out.push('"');
                        out.push_str(KEYS[(next() % KEYS.len() as u64) as usize]);
                        out.push_str("\":");
                        value(depth + 1, next, out);
                    }
                    out.push('}');
                }
            }
        }
        for round in 0..20_000 {
            let mut text = String::new();
            value(0, &mut next, &mut text);
            let mut payload = text.into_bytes();
            if round % 4 == 0 && !payload.is_empty() {
                let at = (next() % payload.len() as u64) as usize;
                payload[at] = b"{}[]\",:x\xff"[(next() % 9) as usize];
            }
            assert_read_as_parsed(&payload);
        }
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
            let (kind, value) = kind_and_value(&payload);
            assert_eq!(kind, PayloadKind::of(&payload), "{payload:?}");
            assert_eq!(
                value.map(f64::to_bits),
                numeric_value_of_a_parsed_object(&payload).map(f64::to_bits),
                "{payload:?}"
            );
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

    /// What `numeric_value` did before it read objects without building them: the reference the
    /// test below holds it to.
    fn numeric_value_of_a_parsed_object(payload: &[u8]) -> Option<f64> {
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

    /// Objects with repeated keys, escaped keys, every kind of value, nesting, many numbers, and
    /// broken syntax: the value is always the one a parsed object gives.
    #[test]
    fn an_objects_value_is_what_the_parsed_object_holds() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
        let keys = [
            r#""a""#,
            r#""b""#,
            r#""t""#,
            r#""\u0061""#,
            r#""a\"b""#,
            r#""é""#,
        ];
        let values = [
            "1",
            "-2",
            "0",
            "-0",
            "21.5",
            "1e3",
            "-1.5E-2",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "1e400",
            r#""21.5""#,
            r#""x\"y""#,
            "true",
            "null",
            "[1, 2]",
            r#"{"n": 1}"#,
            "[[], {}]",
            "01",
            "1.",
            "+1",
            "NaN",
            // Read whole by a parsed object, skipped over by a mere syntax check: a number out
            // of range, a lone surrogate, nesting past serde_json's limit, each deep inside.
            "[1e400]",
            r#"{"n": [-1e999]}"#,
            r#""\ud800""#,
            r#"["\udc00"]"#,
            r#"{"\ud800": 1}"#,
            &deep,
        ];
        let mut valued = 0;
        for round in 0..50_000 {
            let fields = next(if round % 10 == 0 { 40 } else { 6 });
            // Whitespace around: JSON's own, or Unicode's that only a trim takes away.
            let mut text = String::from(["", " \t", "\u{a0}", "\r\n"][next(4) as usize]);
            text.push('{');
            for field in 0..fields {
                if field > 0 {
                    text.push_str(if next(50) == 0 { " " } else { ", " });
                }
                let key = if fields > 10 {
                    format!("\"k{}\"", next(30))
                } else {
                    keys[next(keys.len() as u64) as usize].to_owned()
                };
                text.push_str(&key);
                text.push_str(": ");
                text.push_str(values[next(values.len() as u64) as usize]);
            }
            text.push_str(match next(40) {
                0 => "",
                1 => "} x",
                2 => "}}",
                3 => "}\u{2028}",
                _ => " } \n",
            });
            let reference = numeric_value_of_a_parsed_object(text.as_bytes());
            assert_eq!(
                numeric_value(text.as_bytes()).map(f64::to_bits),
                reference.map(f64::to_bits),
                "{text}"
            );
            let (kind, value) = kind_and_value(text.as_bytes());
            assert_eq!(kind, PayloadKind::of(text.as_bytes()), "{text}");
            assert_eq!(
                value.map(f64::to_bits),
                reference.map(f64::to_bits),
                "{text}"
            );
            valued += usize::from(reference.is_some());
        }
        // Both answers are common, so the comparison covers each.
        assert!(
            (2_500..47_500).contains(&valued),
            "{valued} of 50,000 had a value"
        );
    }

    #[test]
    fn a_key_given_again_keeps_its_last_value_however_many_numbers_there_are() {
        assert_eq!(numeric_value(br#"{"a": 1, "a": 2}"#), Some(2.0));
        assert_eq!(numeric_value(br#"{"a": 1, "b": 2, "a": "x"}"#), Some(2.0));
        assert_eq!(
            numeric_value(br#"{"a": "x", "a": 3, "b": true}"#),
            Some(3.0)
        );
        assert_eq!(numeric_value(br#"{"a": 1, "\u0061": 2, "b": 3}"#), None);
        // Past the few kept in a list: twenty numbers, then all but the last taken back.
        let mut text: Vec<String> = (0..20).map(|n| format!("\"n{n}\": {n}")).collect();
        text.extend((0..19).map(|n| format!("\"n{n}\": null")));
        let object = format!("{{{}}}", text.join(", "));
        assert_eq!(numeric_value(object.as_bytes()), Some(19.0));
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

    /// Texts of every length around the cut, ASCII or not, with control characters: the preview
    /// is what reading them character by character gives.
    #[test]
    fn previews_are_the_same_whatever_path_the_text_takes() {
        let by_character = |text: &str, total_len: usize| {
            let mut one_line: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(PREVIEW_CHARS)
                .collect();
            if one_line.len() < total_len {
                one_line.push('…');
            }
            one_line
        };
        let pieces = ["a", "\t", "\u{7f}", "é", "\u{85}", "€", " ", "{", "\n"];
        let mut state: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + (state % 200) as usize;
            let ascii_only = state.is_multiple_of(3);
            let text: String = (0..len)
                .map(|i| {
                    let pick = (state >> (i % 50)) as usize + i;
                    if ascii_only {
                        ["a", "\t", "\u{7f}", "{", " "][pick % 5]
                    } else {
                        pieces[pick % pieces.len()]
                    }
                })
                .collect();
            assert_eq!(
                preview(text.as_bytes(), text.len()),
                by_character(&text, text.len()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn binary_payloads_are_described_not_printed() {
        assert_eq!(preview(&[0xff, 0x00, 0x12], 3), "binary, 3 bytes");
    }

    #[test]
    fn pretty_json_indents_without_reordering_or_rounding() {
        let text = r#"{"z": 1, "a": [1, 2, {}], "big": 12345678901234567890123, "s": "x, {y}: \"q\"", "e": []}"#;
        assert_eq!(
            pretty_json(text),
            "{\n  \"z\": 1,\n  \"a\": [\n    1,\n    2,\n    {}\n  ],\n  \
             \"big\": 12345678901234567890123,\n  \"s\": \"x, {y}: \\\"q\\\"\",\n  \"e\": []\n}"
        );
        assert_eq!(pretty_json(" 21.5 "), "21.5");
        assert_eq!(pretty_json(r#""a b""#), r#""a b""#);
    }

    #[test]
    fn pretty_json_of_a_cut_payload_indents_what_there_is() {
        assert_eq!(
            pretty_json(r#"{"a": [1, "b"#),
            "{\n  \"a\": [\n    1,\n    \"b"
        );
    }

    #[test]
    fn hex_shows_byte_pairs() {
        assert_eq!(hex(&[0xde, 0xad, 0x00, 0x0f]), "de ad 00 0f");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn a_prefix_cut_inside_a_character_still_previews_as_text() {
        let text = "température";
        let cut = &text.as_bytes()[..5]; // ends inside "é"
        assert_eq!(preview(cut, text.len()), "temp…");
    }
}
