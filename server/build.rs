//! Embeds the site (wasm, JS, CSS, assets) in the binary when `LOOKOUT_EMBED_SITE` names the
//! directory cargo-leptos built it into (scripts/release.sh does), so the release binary is the
//! one file to deploy. Without it the list is empty and the files come from disk, as in
//! development, where cargo-leptos rewrites them while the server runs.
//!
//! Each file that compresses well is embedded a second and third time, brotli and gzip at their
//! best settings: done once here, a browser gets the smallest form it accepts and serving it
//! costs nothing (server/src/embedded_site.rs picks one per request).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Below this a compressed form saves less than a packet.
const COMPRESS_FROM_BYTES: usize = 1024;

/// The kinds of file worth compressing; images, fonts and archives are compressed already.
const COMPRESSIBLE: &[&str] = &[
    "wasm",
    "js",
    "mjs",
    "css",
    "html",
    "svg",
    "json",
    "map",
    "txt",
    "xml",
    "ico",
    "webmanifest",
];

fn main() {
    println!("cargo:rerun-if-env-changed=LOOKOUT_EMBED_SITE");
    // Otherwise any change in the package would rerun this script.
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    if let Some(root) = std::env::var_os("LOOKOUT_EMBED_SITE") {
        let root = PathBuf::from(root);
        let root = root
            .canonicalize()
            .unwrap_or_else(|error| panic!("LOOKOUT_EMBED_SITE={}: {error}", root.display()));
        collect(&root, &root, &mut files);
        assert!(
            files.iter().any(|(url, _)| url.ends_with(".wasm")),
            "LOOKOUT_EMBED_SITE={} holds no .wasm: build the site first (cargo leptos build --release)",
            root.display()
        );
    }
    // In path order, so the same site gives the same binary.
    files.sort();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::from("&[\n");
    for (url, path) in &files {
        let bytes = std::fs::read(path).expect("a file just listed is readable");
        // A strong validator decided here, so serving a file computes nothing. Each compressed
        // form is another representation, so it gets a validator of its own.
        let hash = format!("{:016x}", fnv1a(&bytes));
        let (brotli, gzip) = if is_compressible(url, &bytes) {
            (
                variant(&out, &hash, "br", &bytes, compress_brotli(&bytes)),
                variant(&out, &hash, "gz", &bytes, compress_gzip(&bytes)),
            )
        } else {
            ("None".to_owned(), "None".to_owned())
        };
        writeln!(
            code,
            "    EmbeddedFile {{ path: {url:?}, identity: Variant {{ etag: {etag:?}, bytes: \
             include_bytes!({path:?}) }}, brotli: {brotli}, gzip: {gzip} }},",
            etag = format!("\"{hash}\""),
        )
        .unwrap();
    }
    code.push(']');
    std::fs::write(out.join("embedded_site.rs"), code).expect("OUT_DIR is writable");
}

fn is_compressible(url: &str, bytes: &[u8]) -> bool {
    let extension = url.rsplit_once('.').map_or("", |(_, extension)| extension);
    bytes.len() >= COMPRESS_FROM_BYTES && COMPRESSIBLE.contains(&extension)
}

/// The code of an `Option<Variant>`: the compressed form written beside the generated code and
/// included from there, or `None` when it saves less than a tenth (not worth the bytes in the
/// binary, nor the client's time to decode it).
fn variant(out: &Path, hash: &str, suffix: &str, original: &[u8], compressed: Vec<u8>) -> String {
    if compressed.len() > original.len() - original.len() / 10 {
        return "None".to_owned();
    }
    let path = out.join(format!("{hash}.{suffix}"));
    std::fs::write(&path, compressed).expect("OUT_DIR is writable");
    format!(
        "Some(Variant {{ etag: {etag:?}, bytes: include_bytes!({path:?}) }})",
        etag = format!("\"{hash}-{suffix}\"")
    )
}

fn compress_brotli(bytes: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        // A 4 MiB window holds the whole wasm, so every repeat in it can be referred back to.
        lgwin: 22,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut compressed = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut compressed, &params)
        .expect("compressing into memory cannot fail");
    compressed
}

fn compress_gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .expect("compressing into memory cannot fail");
    encoder
        .finish()
        .expect("compressing into memory cannot fail")
}

/// Every file under `dir` as (URL path, file path), following the site's layout on disk.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
    for entry in entries {
        let path = entry.expect("a listed entry").path();
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        // wasm-bindgen's TypeScript declarations are for bundlers, not browsers.
        if path.to_string_lossy().ends_with(".d.ts") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let relative = path.strip_prefix(root).expect("under the root");
        let url = relative
            .components()
            .map(|part| {
                part.as_os_str()
                    .to_str()
                    .expect("site file names are UTF-8")
            })
            .fold(String::new(), |url, part| url + "/" + part);
        files.push((url, path));
    }
}

/// FNV-1a: enough to tell two builds of a file apart, with no dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
