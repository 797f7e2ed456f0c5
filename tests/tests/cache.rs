//! The analysis cache: a second analysis reads it, a changed file is re-analysed, a corrupt
//! entry is ignored and rewritten, an unwritable cache never fails the analysis.

use std::path::{Path, PathBuf};

use recut_engine::Error;
use recut_engine::analysis::cache::{Cache, Source, analyze_file, content_hash};
use recut_engine::analysis::{Analysis, Corrections, TempoCorrection};
use recut_engine::audio::{WavFormat, write_wav};
use recut_tests::{analysis_diff, synth};

fn song(dir: &Path, name: &str, bpm: f64) -> PathBuf {
    let path = dir.join(name);
    write_wav(
        &path,
        &synth::drums(bpm, 20.0, 22_050).audio,
        WavFormat::Int16,
    )
    .unwrap();
    path
}

fn run(path: &Path, c: &Corrections, cache: &Cache) -> (Analysis, Source, Vec<String>) {
    let mut warnings = Vec::new();
    let (a, s) = analyze_file(path, c, Some(cache), &mut |e| {
        warnings.push(format!("{e:?}"))
    })
    .expect("analysis");
    (a, s, warnings)
}

/// Equal up to the last bits of an f64 (see `cached_analysis_is_bit_identical`).
fn same(a: &Analysis, b: &Analysis, what: &str) {
    let d = analysis_diff(a, b, 1e-14);
    assert!(d.is_empty(), "{what}:\n{}", d.join("\n"));
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map_or(Vec::new(), |r| {
        r.filter_map(|e| e.ok().map(|e| e.path())).collect()
    });
    v.sort();
    v
}

#[test]
fn second_analysis_reads_the_cache_and_is_equal() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let path = song(dir.path(), "a.wav", 120.0);
    let (a1, s1, w1) = run(&path, &Corrections::default(), &cache);
    assert_eq!(s1, Source::Computed);
    assert!(w1.is_empty(), "{w1:?}");
    assert_eq!(entries(cache.dir()).len(), 1, "one entry written");
    let (a2, s2, _) = run(&path, &Corrections::default(), &cache);
    assert_eq!(s2, Source::Cached);
    same(&a1, &a2, "the cached analysis vs the computed one");
    assert_eq!(a1.content_hash, content_hash(&path).unwrap());
}

#[test]
fn cache_is_keyed_by_content_not_path() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let path = song(dir.path(), "a.wav", 120.0);
    let copy = dir.path().join("renamed copy.wav");
    std::fs::copy(&path, &copy).unwrap();
    let (a1, _, _) = run(&path, &Corrections::default(), &cache);
    let (a2, s2, _) = run(&copy, &Corrections::default(), &cache);
    assert_eq!(s2, Source::Cached);
    same(&a1, &a2, "cached via a copy");
}

#[test]
fn changed_file_is_reanalysed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let path = song(dir.path(), "a.wav", 120.0);
    let (a1, _, _) = run(&path, &Corrections::default(), &cache);
    // Same length and header, one sample altered.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = (bytes.len() / 2) & !1;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (a2, s2, _) = run(&path, &Corrections::default(), &cache);
    assert_eq!(s2, Source::Computed, "an altered file is analysed again");
    assert_ne!(a1.content_hash, a2.content_hash);
    // A different song at the same path.
    write_wav(
        &path,
        &synth::drums(100.0, 20.0, 22_050).audio,
        WavFormat::Int16,
    )
    .unwrap();
    let (a3, s3, _) = run(&path, &Corrections::default(), &cache);
    assert_eq!(s3, Source::Computed);
    assert!(
        (a3.tempo_bpm / a1.tempo_bpm - 1.0).abs() > 0.05,
        "re-analysed tempo {} vs {} before",
        a3.tempo_bpm,
        a1.tempo_bpm
    );
    assert_eq!(entries(cache.dir()).len(), 3);
}

#[test]
fn corrections_have_their_own_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let path = song(dir.path(), "a.wav", 120.0);
    let plain = Corrections::default();
    let half = Corrections {
        tempo: TempoCorrection::Half,
        ..Default::default()
    };
    let (a1, _, _) = run(&path, &plain, &cache);
    let (a2, s2, _) = run(&path, &half, &cache);
    assert_eq!(
        s2,
        Source::Computed,
        "a new correction is computed, not served from the plain entry"
    );
    assert!(a2.beats.len() < a1.beats.len());
    assert_eq!(run(&path, &plain, &cache).1, Source::Cached);
    let (a4, s4, _) = run(&path, &half, &cache);
    assert_eq!(s4, Source::Cached);
    same(&a4, &a2, "cached half-tempo analysis");
    assert_eq!(a4.corrections, half);
}

#[test]
fn corrupt_entry_is_ignored_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let path = song(dir.path(), "a.wav", 120.0);
    let (a1, _, _) = run(&path, &Corrections::default(), &cache);
    let files = entries(cache.dir());
    assert_eq!(files.len(), 1);
    for junk in [&b"{ not json"[..], b"", br#"{"features_version": 1}"#] {
        std::fs::write(&files[0], junk).unwrap();
        let (a2, s2, w2) = run(&path, &Corrections::default(), &cache);
        assert_eq!(
            s2,
            Source::Computed,
            "entry {:?} must be ignored",
            String::from_utf8_lossy(junk)
        );
        assert!(w2.is_empty(), "{w2:?}");
        same(&a1, &a2, "recomputed after a corrupt entry");
        assert_eq!(
            run(&path, &Corrections::default(), &cache).1,
            Source::Cached,
            "the entry was rewritten"
        );
    }
    // A truncated entry (a crash mid-write without the rename) reads as missing too.
    let full = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &full[..full.len() / 2]).unwrap();
    assert_eq!(
        run(&path, &Corrections::default(), &cache).1,
        Source::Computed
    );
}

#[test]
fn unwritable_cache_warns_but_analyses() {
    let dir = tempfile::tempdir().unwrap();
    // The cache folder is a plain file: it can be neither created nor written (even as root).
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let cache = Cache::new(blocker.join("cache"));
    let path = song(dir.path(), "a.wav", 120.0);
    let mut warnings: Vec<String> = Vec::new();
    let (a, s) = analyze_file(&path, &Corrections::default(), Some(&cache), &mut |e| {
        assert!(matches!(e, Error::Cache { .. }), "{e:?}");
        warnings.push(e.to_string());
    })
    .expect("an unwritable cache does not fail the analysis");
    assert_eq!(s, Source::Computed);
    assert!(!a.beats.is_empty());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn no_cache_means_no_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = song(dir.path(), "a.wav", 120.0);
    let (_, s) =
        analyze_file(&path, &Corrections::default(), None, &mut |e| panic!("{e}")).unwrap();
    assert_eq!(s, Source::Computed);
    assert_eq!(entries(dir.path()).len(), 1, "only the song itself");
}

#[test]
fn failed_analysis_writes_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let path = dir.path().join("silence.wav");
    write_wav(&path, &synth::silence(20.0, 22_050), WavFormat::Int16).unwrap();
    let e = analyze_file(&path, &Corrections::default(), Some(&cache), &mut |_| {})
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::Analysis(_)), "{e:?}");
    assert!(entries(cache.dir()).is_empty());
    let missing = dir.path().join("missing.wav");
    let e = analyze_file(&missing, &Corrections::default(), Some(&cache), &mut |_| {})
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::Open { .. }), "{e:?}");
}

#[test]
fn cached_analysis_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let path = song(dir.path(), "a.wav", 120.0);
    let (a1, _, _) = run(&path, &Corrections::default(), &cache);
    let (a2, s2, _) = run(&path, &Corrections::default(), &cache);
    assert_eq!(s2, Source::Cached);
    let d = analysis_diff(&a1, &a2, 0.0);
    assert!(d.is_empty(), "{}", d.join("\n"));
}
