//! Makes the trainer's binaries and tests find libtorch without `LD_LIBRARY_PATH`.
//!
//! torch-sys (`links = "tch"`) publishes the libtorch lib dir it linked against, which cargo
//! hands to us as `DEP_TCH_LIBTORCH_LIB` because we depend on torch-sys directly. We add it as
//! an rpath (a RUNPATH, so `LD_LIBRARY_PATH` can still point a GPU run at another torch/lib),
//! and record the libtorch version of the headers for `recut-trainer info`.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = PathBuf::from(
        env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys did not report DEP_TCH_LIBTORCH_LIB"),
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-env=RECUT_LIBTORCH_LIB={}", lib.display());
    println!(
        "cargo:rustc-env=RECUT_LIBTORCH_VERSION={}",
        libtorch_version(&lib)
    );
    if env::var_os("CARGO_FEATURE_CUDA").is_some() {
        link_torch_cuda(&lib);
    }
}

/// `TORCH_VERSION_{MAJOR,MINOR,PATCH}` from the headers beside the lib dir, else "unknown".
fn libtorch_version(lib: &Path) -> String {
    let header = lib.join("../include/torch/headeronly/version.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let Ok(text) = std::fs::read_to_string(&header) else {
        return "unknown".into();
    };
    let part = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("#define TORCH_VERSION_{name} ")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    format!("{}.{}.{}", part("MAJOR"), part("MINOR"), part("PATCH"))
}

/// With `--features cuda`: link `libtorch_cuda.so` even though no symbol of it is used, so its
/// static initialisers register the CUDA kernels (Rust links with `--as-needed`).
fn link_torch_cuda(lib: &Path) {
    if !lib.join("libtorch_cuda.so").exists() {
        panic!(
            "feature `cuda` needs libtorch_cuda.so in {} (the CPU layout from `cargo xtask setup` has none)",
            lib.display()
        );
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch_cuda");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}
