//! Where things are. Derived from this crate's location, not the current directory, so
//! `cargo xtask` behaves the same from any folder of the checkout.

use std::path::PathBuf;

/// The repository root (the workspace that contains `xtask/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repo root")
        .to_path_buf()
}

/// `shared/` beside the checkout: the corpus and the beat-evaluation tool live there.
pub fn shared_dir() -> PathBuf {
    repo_root().join("..").join("shared")
}

/// Cargo's target directory (respects `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    }
}

/// `.deps/`: everything `cargo xtask setup` lays out (git-ignored).
pub fn deps_dir() -> PathBuf {
    repo_root().join(".deps")
}

/// Downloaded wheels, shared by every checkout on the machine: `$RECUT_CACHE/wheels`,
/// default `~/.cache/recut/wheels`.
pub fn wheel_cache() -> PathBuf {
    let base = match std::env::var_os("RECUT_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".cache").join("recut")
        }
    };
    base.join("wheels")
}

/// The corpus output folder: `$RECUT_CORPUS` when set, else `shared/corpus` (as its `fetch` does).
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("RECUT_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => shared_dir().join("corpus"),
    }
}
