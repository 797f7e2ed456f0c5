//! What ships with the plugin, and where the worker finds it at run time: the policy model
//! and ONNX Runtime (DESIGN.md "Models"). A user copies one file (`Recut.clap`) or one
//! folder (`Recut.vst3`) and nothing else.
//!
//! Layouts, made by `cargo xtask bundle recut-plugin --release`:
//! - `Recut.vst3/Contents/x86_64-linux/Recut.so` with [`RUNTIME_FILE`] beside it and the
//!   models and their cards in `Recut.vst3/Contents/Resources/models/`.
//! - `Recut.clap`: a single shared library, built with the `bundled` feature so it carries
//!   the policy and ONNX Runtime inside (about 29 MB more). The policy is loaded from
//!   memory; the runtime must be a file for `dlopen`, so it is written once to
//!   `$XDG_CACHE_HOME/recut/runtime/<blake3>/` (else `~/.cache/…`), atomically (temporary
//!   file, fsync, rename), and reused by every later instance whose bytes hash the same.
//!
//! Search order, ONNX Runtime: `$ORT_DYLIB_PATH` → beside the plugin's own library → the
//! copy embedded in it (extracted) → the engine's remaining search (the repository's
//! `.deps/`, for development builds).
//! Policy: `$RECUT_POLICY` → `<plugin dir>/../Resources/models/policy.onnx` → the copy
//! embedded in the plugin → the repository's `models/policy.onnx` (development builds).
//! Only the policy is embedded: the plugin never runs the reward model (the trainer does).
//!
//! Everything here runs on the worker thread, never in `process()`.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use recut_engine::PolicyModel;
use recut_engine::model::session::SessionOptions;

/// File name of the ONNX Runtime library the bundles carry (the version DESIGN.md pins).
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";
/// The unversioned name, also accepted beside the plugin (what `.deps/` links).
pub const RUNTIME_LINK: &str = recut_engine::model::runtime::LIBRARY_NAME;
/// Environment variable naming a policy file (overrides every shipped copy).
pub const POLICY_ENV: &str = "RECUT_POLICY";
/// Where the VST3 bundle keeps its models, relative to the folder of the plugin library.
pub const BUNDLE_MODELS: &str = "../Resources/models";
/// File name of the policy model.
pub const POLICY_FILE: &str = "policy.onnx";

/// The copies compiled into the library by the `bundled` feature.
#[cfg(feature = "bundled")]
mod embedded {
    pub const POLICY: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/policy.onnx"
    ));
    pub const RUNTIME: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.deps/onnxruntime/libonnxruntime.so.1.31.1"
    ));
}

/// The policy embedded in this build, if it was built with the `bundled` feature.
pub fn embedded_policy() -> Option<&'static [u8]> {
    #[cfg(feature = "bundled")]
    {
        Some(embedded::POLICY)
    }
    #[cfg(not(feature = "bundled"))]
    {
        None
    }
}

/// The ONNX Runtime library embedded in this build, if any.
pub fn embedded_runtime() -> Option<&'static [u8]> {
    #[cfg(feature = "bundled")]
    {
        Some(embedded::RUNTIME)
    }
    #[cfg(not(feature = "bundled"))]
    {
        None
    }
}

/// Why a shipped file could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum ShippedError {
    #[error("cannot write ONNX Runtime to {path}: {source}")]
    Extract {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the ONNX Runtime library comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeOrigin {
    /// `$ORT_DYLIB_PATH` (the engine loads it).
    Environment,
    /// A file beside the plugin's library (the VST3 layout).
    BesidePlugin(PathBuf),
    /// The copy embedded in the plugin, written to the per-user cache.
    Extracted(PathBuf),
    /// None of the above: the engine's own search (the repository's `.deps/`).
    EngineSearch,
}

impl RuntimeOrigin {
    /// The library the engine should load explicitly (`None`: let it search).
    pub fn explicit(&self) -> Option<&Path> {
        match self {
            RuntimeOrigin::BesidePlugin(p) | RuntimeOrigin::Extracted(p) => Some(p),
            RuntimeOrigin::Environment | RuntimeOrigin::EngineSearch => None,
        }
    }
}

impl fmt::Display for RuntimeOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeOrigin::Environment => {
                write!(f, "from ${}", recut_engine::model::runtime::ORT_DYLIB_ENV)
            }
            RuntimeOrigin::BesidePlugin(p) => write!(f, "beside the plugin ({})", p.display()),
            RuntimeOrigin::Extracted(p) => write!(f, "embedded, extracted to {}", p.display()),
            RuntimeOrigin::EngineSearch => f.write_str("from the development search"),
        }
    }
}

/// Where the policy model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOrigin {
    /// `$RECUT_POLICY`.
    Environment(PathBuf),
    /// The VST3 bundle's `Contents/Resources/models/`.
    BesidePlugin(PathBuf),
    /// Compiled into the plugin.
    Embedded,
    /// The repository's `models/` (development builds).
    Repository(PathBuf),
}

impl fmt::Display for PolicyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyOrigin::Environment(p) => write!(f, "${POLICY_ENV} ({})", p.display()),
            PolicyOrigin::BesidePlugin(p) => write!(f, "in the bundle ({})", p.display()),
            PolicyOrigin::Embedded => f.write_str("embedded in the plugin"),
            PolicyOrigin::Repository(p) => write!(f, "from the repository ({})", p.display()),
        }
    }
}

/// The path of the shared library (or executable) this code was loaded from.
#[cfg(unix)]
pub fn plugin_library() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // Any address inside this image will do; this function's own is always there.
    let addr = plugin_library as fn() -> Option<PathBuf> as *const libc::c_void;
    // SAFETY: `dladdr` only reads the loader's tables and fills `info`; `dli_fname` points
    // to a NUL-terminated string owned by the loader for as long as the image is loaded.
    let name = unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(addr, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(info.dli_fname)
            .to_bytes()
            .to_owned()
    };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&name));
    Some(std::fs::canonicalize(&path).unwrap_or(path))
}

/// The path of the shared library this code was loaded from (not known off Unix).
#[cfg(not(unix))]
pub fn plugin_library() -> Option<PathBuf> {
    None
}

/// The folder holding the plugin's library.
pub fn plugin_dir() -> Option<PathBuf> {
    plugin_library().and_then(|p| p.parent().map(Path::to_owned))
}

/// `$XDG_CACHE_HOME/recut`, else `~/.cache/recut`, else the temporary folder's `recut`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("recut")
}

/// Finds ONNX Runtime in the search order of the module docs, extracting the embedded
/// copy when it is the one to use.
pub fn find_runtime() -> Result<RuntimeOrigin, ShippedError> {
    runtime_among(
        std::env::var_os(recut_engine::model::runtime::ORT_DYLIB_ENV),
        plugin_dir().as_deref(),
        embedded_runtime(),
        &cache_dir(),
    )
}

/// [`find_runtime`] over given inputs (for tests and packagers).
pub fn runtime_among(
    env: Option<OsString>,
    plugin_dir: Option<&Path>,
    embedded: Option<&[u8]>,
    cache: &Path,
) -> Result<RuntimeOrigin, ShippedError> {
    if env.is_some_and(|v| !v.is_empty()) {
        return Ok(RuntimeOrigin::Environment);
    }
    if let Some(dir) = plugin_dir {
        for name in [RUNTIME_FILE, RUNTIME_LINK] {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(RuntimeOrigin::BesidePlugin(p));
            }
        }
    }
    match embedded {
        Some(bytes) => extract_runtime(bytes, cache).map(RuntimeOrigin::Extracted),
        None => Ok(RuntimeOrigin::EngineSearch),
    }
}

/// Distinguishes temporary files of several instances in one process.
static EXTRACTIONS: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` (the ONNX Runtime library) to `<cache>/runtime/<blake3 hex>/` once and
/// returns the file. An existing file is reused only if its content hashes the same; a
/// new one is written to a temporary name, synced and renamed, so another instance (or
/// process) never sees half a library.
pub fn extract_runtime(bytes: &[u8], cache: &Path) -> Result<PathBuf, ShippedError> {
    let hash = blake3::hash(bytes).to_hex();
    let dir = cache.join("runtime").join(hash.as_str());
    let path = dir.join(RUNTIME_FILE);
    if let Ok(existing) = std::fs::read(&path)
        && blake3::hash(&existing) == blake3::hash(bytes)
    {
        return Ok(path);
    }
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| ShippedError::Extract { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(err(&dir))?;
    let tmp = dir.join(format!(
        ".{RUNTIME_FILE}.{}.{}.tmp",
        std::process::id(),
        EXTRACTIONS.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(&path)(e));
    }
    Ok(path)
}

/// Finds the policy in the search order of the module docs (`None`: no copy anywhere).
pub fn find_policy() -> Option<PolicyOrigin> {
    policy_among(
        std::env::var_os(POLICY_ENV),
        plugin_dir().as_deref(),
        embedded_policy().is_some(),
        &repo_policy(),
    )
}

/// [`find_policy`] over given inputs. `$RECUT_POLICY` is taken even if the file is missing,
/// so the status line names what the user asked for.
pub fn policy_among(
    env: Option<OsString>,
    plugin_dir: Option<&Path>,
    embedded: bool,
    repo: &Path,
) -> Option<PolicyOrigin> {
    if let Some(p) = env.filter(|v| !v.is_empty()) {
        return Some(PolicyOrigin::Environment(PathBuf::from(p)));
    }
    if let Some(p) = plugin_dir
        .map(|d| d.join(BUNDLE_MODELS).join(POLICY_FILE))
        .filter(|p| p.is_file())
    {
        return Some(PolicyOrigin::BesidePlugin(
            std::fs::canonicalize(&p).unwrap_or(p),
        ));
    }
    if embedded {
        return Some(PolicyOrigin::Embedded);
    }
    repo.is_file()
        .then(|| PolicyOrigin::Repository(repo.to_owned()))
}

/// The repository's `models/policy.onnx` (where `cargo xtask train-default` writes it).
pub fn repo_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join(POLICY_FILE)
}

/// Loads the shipped policy with the shipped runtime. `Ok` carries the model and the
/// status note (version, provider, where the model and the runtime came from); `Err` the
/// reason the baseline policy is used instead.
pub fn load_policy() -> Result<(PolicyModel, String), String> {
    let origin = find_policy().ok_or_else(|| {
        format!("no policy model (set {POLICY_ENV}, or use a bundle from `cargo xtask bundle`)")
    })?;
    let runtime = find_runtime().map_err(|e| e.to_string())?;
    let opts = SessionOptions {
        runtime: runtime.explicit().map(Path::to_owned),
        ..SessionOptions::from_env()
    };
    let model = match &origin {
        PolicyOrigin::Embedded => {
            let bytes = embedded_policy().unwrap_or_default().to_vec();
            PolicyModel::from_bytes(bytes, "policy.onnx embedded in the plugin", &opts)
        }
        PolicyOrigin::Environment(p)
        | PolicyOrigin::BesidePlugin(p)
        | PolicyOrigin::Repository(p) => PolicyModel::load_with(p, &opts),
    }
    .map_err(|e| format!("{e} (model {origin}, ONNX Runtime {runtime})"))?;
    let info = model.info();
    let note = format!(
        "policy {} on {:?}; model {origin}; ONNX Runtime {} ({})",
        info.model_version,
        model.active_provider(),
        runtime_note(&runtime),
        info.runtime.path.display()
    );
    Ok((model, note))
}

/// How the status line names where the runtime came from.
fn runtime_note(origin: &RuntimeOrigin) -> String {
    match origin {
        RuntimeOrigin::BesidePlugin(_) => "beside the plugin".into(),
        RuntimeOrigin::Extracted(_) => "embedded, extracted to the cache".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction_is_keyed_by_content_and_reused() {
        let cache = tempfile::tempdir().unwrap();
        let a = extract_runtime(b"runtime one", cache.path()).unwrap();
        assert!(a.starts_with(cache.path().join("runtime")));
        assert_eq!(a.file_name().unwrap(), RUNTIME_FILE);
        assert_eq!(std::fs::read(&a).unwrap(), b"runtime one");
        // Same bytes: same file, not rewritten (mtime kept).
        let t = std::fs::metadata(&a).unwrap().modified().unwrap();
        assert_eq!(extract_runtime(b"runtime one", cache.path()).unwrap(), a);
        assert_eq!(std::fs::metadata(&a).unwrap().modified().unwrap(), t);
        // Other bytes: another folder.
        let b = extract_runtime(b"runtime two", cache.path()).unwrap();
        assert_ne!(a.parent(), b.parent());
        // A damaged copy is replaced; no temporary file is left behind.
        std::fs::write(&a, b"trunc").unwrap();
        assert_eq!(extract_runtime(b"runtime one", cache.path()).unwrap(), a);
        assert_eq!(std::fs::read(&a).unwrap(), b"runtime one");
        let names: Vec<_> = std::fs::read_dir(a.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [RUNTIME_FILE]);
    }

    #[test]
    fn runtime_search_order() {
        let cache = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let env = Some(OsString::from("/x/libonnxruntime.so"));
        assert_eq!(
            runtime_among(env, Some(dir.path()), Some(b"x"), cache.path()).unwrap(),
            RuntimeOrigin::Environment
        );
        // Nothing beside the plugin: the embedded copy, extracted.
        let got = runtime_among(None, Some(dir.path()), Some(b"x"), cache.path()).unwrap();
        assert!(matches!(got, RuntimeOrigin::Extracted(p) if p.starts_with(cache.path())));
        assert_eq!(
            runtime_among(None, Some(dir.path()), None, cache.path()).unwrap(),
            RuntimeOrigin::EngineSearch
        );
        std::fs::write(dir.path().join(RUNTIME_FILE), b"lib").unwrap();
        assert_eq!(
            runtime_among(None, Some(dir.path()), Some(b"x"), cache.path()).unwrap(),
            RuntimeOrigin::BesidePlugin(dir.path().join(RUNTIME_FILE))
        );
    }

    #[test]
    fn policy_search_order() {
        let root = tempfile::tempdir().unwrap();
        let lib_dir = root.path().join("Contents/x86_64-linux");
        let models = root.path().join("Contents/Resources/models");
        std::fs::create_dir_all(&lib_dir).unwrap();
        let repo = root.path().join("repo/policy.onnx");
        assert_eq!(policy_among(None, Some(&lib_dir), false, &repo), None);
        std::fs::create_dir_all(repo.parent().unwrap()).unwrap();
        std::fs::write(&repo, b"m").unwrap();
        assert_eq!(
            policy_among(None, Some(&lib_dir), false, &repo),
            Some(PolicyOrigin::Repository(repo.clone()))
        );
        assert_eq!(
            policy_among(None, Some(&lib_dir), true, &repo),
            Some(PolicyOrigin::Embedded)
        );
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join(POLICY_FILE), b"m").unwrap();
        assert_eq!(
            policy_among(None, Some(&lib_dir), true, &repo),
            Some(PolicyOrigin::BesidePlugin(
                std::fs::canonicalize(models.join(POLICY_FILE)).unwrap()
            ))
        );
        assert_eq!(
            policy_among(Some("/p.onnx".into()), Some(&lib_dir), true, &repo),
            Some(PolicyOrigin::Environment("/p.onnx".into()))
        );
    }

    #[test]
    fn this_image_is_found() {
        let lib = plugin_library().expect("dladdr finds this image");
        assert!(lib.is_file(), "{}", lib.display());
    }
}
