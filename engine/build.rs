//! Compiles `proto/onnx.proto` (copied from the PyPI `onnx` package, Apache-2.0) into Rust
//! with protox (a pure-Rust protobuf compiler, so no `protoc` binary and no network) and
//! prost-build. The generated module lands in `$OUT_DIR/onnx.rs` and is included by
//! `src/model/onnx/proto.rs`.

fn main() {
    analysis_source_hash();
    let proto_dir = std::path::Path::new("proto");
    let proto = proto_dir.join("onnx.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile([&proto], [proto_dir])
        .unwrap_or_else(|e| panic!("protox cannot compile {}: {e}", proto.display()));
    prost_build::Config::new()
        .compile_fds(fds)
        .unwrap_or_else(|e| {
            panic!(
                "prost-build cannot generate Rust for {}: {e}",
                proto.display()
            )
        });
}

/// Exposes a hash of the analysis sources as `RECUT_ANALYSIS_SOURCE_HASH`: the analysis
/// cache keys on it, so any change to the analysis code invalidates cached results even
/// when nobody remembers to bump a version.
fn analysis_source_hash() {
    use std::hash::{Hash, Hasher};
    let dir = std::path::Path::new("src/analysis");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    // FNV-1a: stable across Rust versions (std's DefaultHasher is not promised to be).
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for f in files {
        println!("cargo:rerun-if-changed={}", f.display());
        if let Ok(bytes) = std::fs::read(&f) {
            bytes.hash(&mut h);
        }
    }
    println!(
        "cargo:rustc-env=RECUT_ANALYSIS_SOURCE_HASH={:016x}",
        h.finish()
    );
}

struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
