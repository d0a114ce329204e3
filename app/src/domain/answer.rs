//! How every server function's answer travels: JSON, as with Leptos's default, but read as text.
//!
//! The browser reads each answer type twice over: in a server function's answer, and in the
//! hydration data a resource carries in the page, which Leptos reads with `serde_json::from_str`.
//! Leptos's own JSON encoding reads answers with `from_slice`, a different reader to serde_json,
//! so every answer type's deserializer was compiled into the wasm bundle twice. Reading answers as
//! text too leaves one copy (bench/results/footprint.md has the sizes).

use leptos::server_fn::{codec::Post, Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

/// The `output` of every `#[server]` function in this crate.
pub type JsonAnswer = Post<JsonText>;

/// JSON in a UTF-8 body, read as a string.
pub struct JsonText;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(answer: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(answer).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reads_back_as_it_was_written() {
        let answer = vec![(String::from("sensors/ünïcode"), Some(1.5_f64))];
        let bytes = <JsonText as Encodes<_>>::encode(&answer).unwrap();
        let read: Vec<(String, Option<f64>)> = <JsonText as Decodes<_>>::decode(bytes).unwrap();
        assert_eq!(read, answer);
    }

    /// One left on Leptos's default encoding would bring its answer type's second reader back
    /// into the wasm, and nothing else would notice a few kilobytes.
    #[test]
    fn every_server_function_in_the_crate_answers_with_json_text() {
        fn sources(dir: &std::path::Path, found: &mut Vec<(std::path::PathBuf, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, found);
                } else if path.extension().is_some_and(|extension| extension == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    found.push((path, text));
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let attribute = concat!("#[", "server");
        let mut server_functions = 0;
        for (path, text) in &files {
            for line in text
                .lines()
                .filter(|line| line.trim_start().starts_with(attribute))
            {
                server_functions += 1;
                assert!(
                    line.contains("output = crate::domain::answer::JsonAnswer"),
                    "{}: {line}",
                    path.display()
                );
            }
        }
        assert!(
            server_functions >= 15,
            "found only {server_functions} server functions"
        );
    }

    #[test]
    fn a_body_that_is_not_utf8_is_an_error_not_a_panic() {
        let read = <JsonText as Decodes<Vec<String>>>::decode(Bytes::from_static(b"[\"\xff\"]"));
        assert!(read.is_err());
    }
}
