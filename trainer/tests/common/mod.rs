//! Shared test fixtures: analysed corpus songs (analysed once per test binary).

#![allow(dead_code, clippy::type_complexity)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use recut_engine::Analysis;

/// The `recut-trainer` binary of this build.
pub fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recut-trainer"))
}

/// The stdout of a command that must have succeeded (else both its outputs in the panic).
pub fn check(o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "stdout {stdout}\nstderr {}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/songs")
}

/// A folder `dir/songs` holding links to the named corpus songs, for the commands that
/// read a folder.
pub fn songs_dir(dir: &Path, names: &[&str]) -> PathBuf {
    let songs = dir.join("songs");
    std::fs::create_dir_all(&songs).unwrap();
    for n in names {
        std::os::unix::fs::symlink(corpus_dir().join(n), songs.join(n)).unwrap();
    }
    songs
}

/// [`songs_dir`] of three short corpus songs, for runs that train on two and hold one out.
pub fn three_songs(dir: &Path) -> PathBuf {
    songs_dir(
        dir,
        &[
            "hedgewars_freeway.ogg",
            "lincity_van_herk_city_blues.ogg",
            "wesnoth_elvish_theme.ogg",
        ],
    )
}

/// The analysis of a corpus song (e.g. `hedgewars_freeway.ogg`), cached in memory.
pub fn song(name: &str) -> Arc<Analysis> {
    static CACHE: OnceLock<Mutex<Vec<(String, Arc<Analysis>)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Some((_, a)) = cache.lock().unwrap().iter().find(|(n, _)| n == name) {
        return a.clone();
    }
    let path = corpus_dir().join(name);
    let (a, _) =
        recut_engine::analysis::cache::analyze_file(&path, &Default::default(), None, &mut |_| {})
            .unwrap_or_else(|e| panic!("analysing {}: {e}", path.display()));
    let a = Arc::new(a);
    cache.lock().unwrap().push((name.to_owned(), a.clone()));
    a
}

/// A small deterministic generator (SplitMix64) for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
