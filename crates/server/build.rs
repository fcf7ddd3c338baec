//! Embeds the web app (`web/src`, plus the third-party libraries that `scripts/build-web.sh`
//! copies into `web/vendor`) into the binary, so `switchboard serve` alone serves it.
//!
//! It writes `$OUT_DIR/web_assets.rs`: one `Asset` per file, with `include_bytes!` of the file
//! and an ETag computed from its contents. The build never touches the network: when
//! `web/vendor` is missing (nobody ran `scripts/build-web.sh`), the app is embedded without
//! it, a warning says so, and the page renders messages as plain text instead of markdown.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = manifest.join("../../web");
    // A directory here makes cargo rescan every file in it, so any change to the app (or a
    // new `web/vendor`) rebuilds the binary.
    println!("cargo:rerun-if-changed={}", web.display());

    let mut assets = Vec::new();
    collect(&web.join("src"), "/", &mut assets);
    let vendor = web.join("vendor");
    if vendor.is_dir() {
        collect(&vendor, "/vendor/", &mut assets);
    } else {
        println!(
            "cargo:warning=web/vendor is missing: run scripts/build-web.sh, or the web app \
             shows messages as plain text instead of markdown"
        );
    }
    assets.sort();

    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (url, path) in &assets {
        let bytes = std::fs::read(path).expect("readable web asset");
        writeln!(
            code,
            "    Asset {{ path: {url:?}, etag: \"\\\"{:016x}\\\"\", bytes: include_bytes!({:?}) }},",
            fnv1a(&bytes),
            path.canonicalize().expect("an existing file").display().to_string(),
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("web_assets.rs"), code).expect("writable OUT_DIR");
}

/// Every regular file under `dir` (no dot files), as (URL path, file path).
fn collect(dir: &Path, prefix: &str, into: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), into);
        } else if path.is_file() {
            into.push((format!("{prefix}{name}"), path));
        }
    }
}

/// A content hash for the ETag (64-bit FNV-1a: no dependency, and collisions only cost a
/// stale cache entry, never correctness of the bytes served for a fresh request).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
