//! Computes the identity of the rules this build decides money by: a hash of the
//! ledger's source files, its manifest and the workspace's lock file (a dependency that
//! changed could change a decision too). The engine writes it into the journal and the
//! snapshots; a build whose rules differ from the ones that wrote the recent records
//! re-verifies the whole journal before it serves (see `engine::recovery`).
//!
//! Any change to these files gives new rules, even one that changes no decision: the
//! price is one full verification at the next start, never a wrong answer.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let src = manifest.join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    files.sort();
    let lock = manifest.join("../../Cargo.lock");
    let mut input = Vec::new();
    for path in files.iter().chain([&manifest.join("Cargo.toml"), &lock]) {
        // A missing lock file (a vendored copy) leaves only the sources to hash.
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let name = path
            .strip_prefix(&manifest)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        input.extend_from_slice(name.as_bytes());
        input.push(0);
        input.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        input.extend_from_slice(&bytes);
    }
    let fingerprint = xxhash_rust::xxh3::xxh3_128(&input);
    println!("cargo:rustc-env=MAEUL_RULES_FINGERPRINT={fingerprint:032x}");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=../../Cargo.lock");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
