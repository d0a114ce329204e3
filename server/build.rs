//! Embeds the site (wasm, JS, CSS, assets) in the binary when `LOOKOUT_EMBED_SITE` names the
//! directory cargo-leptos built it into (scripts/release.sh does), so the release binary is the
//! one file to deploy. Without it the list is empty and the files come from disk, as in
//! development, where cargo-leptos rewrites them while the server runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
    let mut code = String::from("&[\n");
    for (url, path) in &files {
        let bytes = std::fs::read(path).expect("a file just listed is readable");
        // A strong validator decided here, so serving a file computes nothing.
        let etag = format!("\"{:016x}\"", fnv1a(&bytes));
        writeln!(code, "    ({url:?}, {etag:?}, include_bytes!({path:?})),").unwrap();
    }
    code.push(']');
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("embedded_site.rs"), code).expect("OUT_DIR is writable");
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
