//! ONNX Runtime, loaded at run time (`ort`'s `load-dynamic`), one environment per process.
//!
//! Search order for the library (DESIGN.md): an explicit path → `ORT_DYLIB_PATH` → next to
//! the running binary or plugin bundle → the repository's `.deps/onnxruntime/` (where
//! `cargo xtask setup` puts it). The first that exists is loaded, and the caller is told
//! which one, so "which ONNX Runtime am I running" is never a guess.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// File name of the ONNX Runtime shared library on Linux.
pub const LIBRARY_NAME: &str = "libonnxruntime.so";
/// Environment variable naming the library explicitly (ort's own convention).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Where the library was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// The path the caller passed.
    Explicit,
    /// `$ORT_DYLIB_PATH`.
    Environment,
    /// Beside the running executable.
    BesideBinary,
    /// The repository's `.deps/onnxruntime/`.
    RepoDeps,
}

impl std::fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LibrarySource::Explicit => "explicit path",
            LibrarySource::Environment => ORT_DYLIB_ENV,
            LibrarySource::BesideBinary => "beside the binary",
            LibrarySource::RepoDeps => "repository .deps/",
        })
    }
}

/// The loaded runtime.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// Library file loaded.
    pub path: PathBuf,
    /// How it was found.
    pub source: LibrarySource,
}

/// The candidate library paths in search order (existing or not).
pub fn candidates(explicit: Option<&Path>) -> Vec<(PathBuf, LibrarySource)> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push((p.to_owned(), LibrarySource::Explicit));
    }
    if let Some(p) = std::env::var_os(ORT_DYLIB_ENV) {
        out.push((PathBuf::from(p), LibrarySource::Environment));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        out.push((dir.join(LIBRARY_NAME), LibrarySource::BesideBinary));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".deps")
        .join("onnxruntime");
    out.push((repo.join(LIBRARY_NAME), LibrarySource::RepoDeps));
    out
}

/// The first existing candidate. An explicit path that does not exist is an error (the
/// user asked for that file), not a reason to try the others.
pub fn resolve(explicit: Option<&Path>) -> Result<(PathBuf, LibrarySource)> {
    resolve_among(explicit, candidates(explicit))
}

/// [`resolve`] over a given candidate list (what [`candidates`] returns, or a list a test
/// or a packager builds). The error lists every path tried, with how it was found.
pub fn resolve_among(
    explicit: Option<&Path>,
    all: Vec<(PathBuf, LibrarySource)>,
) -> Result<(PathBuf, LibrarySource)> {
    if let Some(p) = explicit.filter(|p| !p.is_file()) {
        return Err(Error::Runtime(format!(
            "no ONNX Runtime library at {} (given explicitly)",
            p.display()
        )));
    }
    all.iter().find(|(p, _)| p.is_file()).cloned().ok_or_else(|| {
        let tried: Vec<String> = all.iter().map(|(p, s)| format!("{} ({s})", p.display())).collect();
        Error::Runtime(format!(
            "ONNX Runtime library not found; tried: {}. Run `cargo xtask setup` or set {ORT_DYLIB_ENV}",
            tried.join(", ")
        ))
    })
}

/// The process's runtime: what was loaded and the environment that must stay alive (ort
/// keeps only a weak reference to it).
static RUNTIME: OnceLock<
    std::result::Result<(RuntimeInfo, ort::environment::Environment), String>,
> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns which library is in use. Later calls
/// return the first outcome (a process cannot swap runtimes).
pub fn init(explicit: Option<&Path>) -> Result<RuntimeInfo> {
    environment(explicit).map(|(info, _)| info)
}

/// [`init`], also returning the process's ort environment (sessions are built in it).
pub fn environment(
    explicit: Option<&Path>,
) -> Result<(RuntimeInfo, ort::environment::Environment)> {
    RUNTIME
        .get_or_init(|| {
            let (path, source) = resolve(explicit).map_err(|e| e.to_string())?;
            let builder = ort::init_from(&path)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
            let env = builder
                .with_name("recut")
                .build()
                .map_err(|e| format!("ONNX Runtime environment: {e}"))?;
            Ok((RuntimeInfo { path, source }, env))
        })
        .as_ref()
        .map(|(info, env)| (info.clone(), env.clone()))
        .map_err(|e| Error::Runtime(e.clone()))
}
