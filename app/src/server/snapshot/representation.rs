//! One served form of a snapshot (a page, its JSON, feed, CSV or badge) with its validator and
//! its compressed forms. A snapshot is served many times per build, so a compressed form is made
//! once, when the first client that accepts it asks, and kept with the snapshot: no request pays
//! for compressing what the previous one already compressed, and anonymous requests need no
//! compression layer on their way out.

use axum::http::HeaderValue;
use bytes::Bytes;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::{Arc, OnceLock};

/// Bodies smaller than this go out as they are: compressed, they would save less than a packet.
const COMPRESS_FROM_BYTES: usize = 1024;

/// brotli's quality for a snapshot's forms. Made once per build, not per request, so it can be
/// above the on-the-fly compression's 4; 11 (the smallest) took 16 ms on a 10 KB stylesheet,
/// far too long for the request that happens to ask first.
const BROTLI_QUALITY: u32 = 6;
/// brotli's window (log2 of its bytes): larger than any page kept here gains nothing.
const BROTLI_WINDOW: u32 = 22;
const GZIP_LEVEL: u32 = 6;

/// The content codings a representation has besides itself, in the server's order of
/// preference when a client accepts several equally: brotli is the smaller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
}

#[derive(Clone, Debug)]
pub struct Representation {
    pub body: Bytes,
    /// A weak tag (`W/"…"`) from the bytes, so equal bytes get equal tags on every instance;
    /// weak because the same tag stands for each compressed form too (RFC 9110 8.8.1), which
    /// `If-None-Match` compares weakly. Kept as a header value, ready to send.
    pub etag: HeaderValue,
    /// Shared by clones: the live view's JSON is often the snapshot's own, cloned.
    compressed: Arc<Compressed>,
}

#[derive(Debug, Default)]
struct Compressed {
    brotli: OnceLock<Bytes>,
    gzip: OnceLock<Bytes>,
}

impl Representation {
    pub fn of(body: impl Into<Bytes>) -> Self {
        let body = body.into();
        let mut hasher = std::hash::DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = format!("W/\"{:016x}-{:x}\"", hasher.finish(), body.len());
        Self {
            etag: HeaderValue::from_str(&etag).expect("hex digits and quotes are a valid header"),
            body,
            compressed: Arc::default(),
        }
    }

    /// The encodings worth offering: none for a body too small to gain from one.
    pub fn encodings(&self) -> &'static [Encoding] {
        if self.body.len() < COMPRESS_FROM_BYTES {
            &[]
        } else {
            &[Encoding::Brotli, Encoding::Gzip]
        }
    }

    /// The body in `encoding`, compressed the first time it is asked for. Two requests asking at
    /// once may both compress; one result is kept, and both are the same bytes.
    pub fn encoded(&self, encoding: Encoding) -> Bytes {
        let cell = match encoding {
            Encoding::Brotli => &self.compressed.brotli,
            Encoding::Gzip => &self.compressed.gzip,
        };
        if let Some(bytes) = cell.get() {
            return bytes.clone();
        }
        let bytes = Bytes::from(match encoding {
            Encoding::Brotli => brotli_of(&self.body),
            Encoding::Gzip => gzip_of(&self.body),
        });
        cell.get_or_init(|| bytes).clone()
    }
}

fn brotli_of(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4);
    {
        let mut writer =
            brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, BROTLI_WINDOW);
        writer
            .write_all(body)
            .expect("writing to memory does not fail");
    }
    out
}

fn gzip_of(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::new(GZIP_LEVEL),
    );
    encoder
        .write_all(body)
        .expect("writing to memory does not fail");
    encoder.finish().expect("writing to memory does not fail")
}

#[cfg(test)]
mod tests {
    use super::{Encoding, Representation};
    use std::io::Read;

    fn page() -> Representation {
        Representation::of("<p>All systems operational</p>\n".repeat(100))
    }

    #[test]
    fn each_encoding_decodes_to_the_body() {
        let page = page();
        let mut plain = Vec::new();
        brotli::Decompressor::new(&page.encoded(Encoding::Brotli)[..], 4096)
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, page.body);
        plain.clear();
        flate2::read::GzDecoder::new(&page.encoded(Encoding::Gzip)[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, page.body);
        assert!(page.encoded(Encoding::Brotli).len() < page.body.len() / 10);
    }

    #[test]
    fn a_form_is_compressed_once_and_shared_by_clones() {
        let page = page();
        let first = page.encoded(Encoding::Gzip);
        let clone = page.clone();
        // The same allocation: the clone did not compress again.
        assert_eq!(clone.encoded(Encoding::Gzip).as_ptr(), first.as_ptr());
    }

    #[test]
    fn small_bodies_are_offered_only_as_they_are() {
        assert!(Representation::of("ok").encodings().is_empty());
        assert_eq!(page().encodings(), [Encoding::Brotli, Encoding::Gzip]);
    }

    #[test]
    fn the_tag_is_weak_and_follows_the_bytes() {
        let page = page();
        assert!(page.etag.to_str().unwrap().starts_with("W/\""));
        assert_eq!(page.etag, page.clone().etag);
        assert_ne!(page.etag, Representation::of("other").etag);
    }
}
