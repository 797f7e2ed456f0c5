//! The analysis cache: one JSON file per (content hash, features version, corrections),
//! so a song is analysed once across runs and a changed file (new hash) is re-analysed.
//!
//! Keys also carry a hash of the analysis source code, so a changed algorithm re-analyses.
//! Location: `$RECUT_CACHE_DIR`, else `$XDG_CACHE_HOME/recut/analysis`, else
//! `~/.cache/recut/analysis`. Writes go to a temporary file renamed into place, so a crash
//! never leaves a half-written entry; an unreadable entry is ignored and rewritten.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use super::{Analysis, Corrections, FEATURES_VERSION};
use crate::error::{Error, Result};

/// Hash of the analysis sources this engine was built from (see `build.rs`): part of every
/// cache key, so a changed tracker never serves results of the old one.
pub const ANALYSIS_SOURCE_HASH: &str = env!("RECUT_ANALYSIS_SOURCE_HASH");

/// Environment variable that overrides the cache folder.
pub const CACHE_DIR_ENV: &str = "RECUT_CACHE_DIR";

/// The default cache folder.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("recut").join("analysis")
}

/// blake3 of a file's bytes, hex.
pub fn content_hash(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    hasher.update_reader(file).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// A folder of cached analyses.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// The cache at [`default_dir`].
    pub fn default_location() -> Self {
        Cache::new(default_dir())
    }

    /// Folder of this cache.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, hash: &str, corrections: &Corrections) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        corrections.hash(&mut h);
        self.dir.join(format!(
            "{hash}-v{FEATURES_VERSION}-{ANALYSIS_SOURCE_HASH}-{:016x}.json",
            h.finish()
        ))
    }

    /// The cached analysis, if present and readable.
    pub fn get(&self, hash: &str, corrections: &Corrections) -> Option<Analysis> {
        let bytes = std::fs::read(self.entry(hash, corrections)).ok()?;
        let a: Analysis = serde_json::from_slice(&bytes).ok()?;
        (a.features_version == FEATURES_VERSION
            && a.content_hash == hash
            && a.corrections == *corrections)
            .then_some(a)
    }

    /// Stores `analysis` atomically (temporary file + rename).
    pub fn put(&self, analysis: &Analysis) -> Result<()> {
        let path = self.entry(&analysis.content_hash, &analysis.corrections);
        let err = |reason: String| Error::Cache {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let json = serde_json::to_vec(analysis).map_err(|e| err(e.to_string()))?;
        std::fs::write(&tmp, json).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e.to_string())
        })
    }
}

/// How an analysis was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from the cache.
    Cached,
    /// Computed now.
    Computed,
}

/// Analyses the file at `path`, reading and filling `cache` when given. A cache that
/// cannot be written costs only the next run's time: it is reported through `warn`.
pub fn analyze_file(
    path: &Path,
    corrections: &Corrections,
    cache: Option<&Cache>,
    warn: &mut dyn FnMut(&Error),
) -> Result<(Analysis, Source)> {
    // Decode first: a missing or corrupt file should read as such, not as a hash error.
    if !path.exists() {
        return Err(Error::Open {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let hash = content_hash(path)?;
    if let Some(a) = cache.and_then(|c| c.get(&hash, corrections)) {
        return Ok((a, Source::Cached));
    }
    let audio = crate::audio::decode_file(path)?;
    let analysis = super::analyze_audio(&audio, hash, corrections)?;
    if let Some(c) = cache
        && let Err(e) = c.put(&analysis)
    {
        warn(&e);
    }
    Ok((analysis, Source::Computed))
}
