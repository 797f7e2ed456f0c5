//! Invariants of an analysis of real recordings (`shared/corpus/songs/*.ogg`) and of the
//! feature table.

use rayon::prelude::*;
use recut_engine::analysis::cache::{analyze_file, content_hash};
use recut_engine::analysis::{Analysis, Corrections, FEATURE_DIM, FEATURE_TABLE, FEATURES_VERSION};
use recut_tests::ensure_corpus;

fn check(name: &str, a: &Analysis) {
    let n = a.beats.len();
    assert!(n >= 16, "{name}: {n} beats");
    assert_eq!(a.features_version, FEATURES_VERSION);
    assert!(
        a.tempo_bpm.is_finite() && (30.0..=300.0).contains(&a.tempo_bpm),
        "{name}: tempo {}",
        a.tempo_bpm
    );
    assert!(
        (0.0..=1.0).contains(&a.tempo_confidence),
        "{name}: confidence {}",
        a.tempo_confidence
    );
    // Beats strictly increasing inside the song.
    assert!(
        a.beats
            .iter()
            .all(|t| t.is_finite() && *t >= 0.0 && *t <= a.duration_s),
        "{name}: beat outside [0, {}]",
        a.duration_s
    );
    assert!(
        a.beats.windows(2).all(|w| w[1] > w[0]),
        "{name}: beats not strictly increasing"
    );
    // Downbeats: valid increasing indices, one bar apart.
    assert!(!a.downbeats.is_empty(), "{name}: no downbeats");
    assert!(
        a.downbeats.iter().all(|d| *d < n),
        "{name}: downbeat out of range"
    );
    assert!(
        a.downbeats.windows(2).all(|w| w[1] > w[0]),
        "{name}: downbeats not increasing"
    );
    assert!(
        a.downbeats[0] < a.meter.beats_per_bar as usize,
        "{name}: pickup longer than a bar"
    );
    let bars = a.bars();
    assert_eq!(bars.len(), a.downbeats.len());
    assert_eq!(bars.last().unwrap().end, n);
    // Phrases cover 0..n contiguously, each non-empty.
    assert!(!a.phrases.is_empty());
    assert_eq!(
        a.phrases[0].start, 0,
        "{name}: first phrase does not start at 0"
    );
    assert_eq!(
        a.phrases.last().unwrap().end,
        n,
        "{name}: last phrase does not end at the last beat"
    );
    assert!(
        a.phrases.windows(2).all(|w| w[0].end == w[1].start),
        "{name}: phrases not contiguous"
    );
    assert!(
        a.phrases.iter().all(|p| p.start < p.end),
        "{name}: empty phrase"
    );
    // Features: one finite row per beat.
    assert_eq!(a.features.len(), n, "{name}: feature rows");
    for (i, row) in a.features.iter().enumerate() {
        assert_eq!(row.len(), FEATURE_DIM);
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            panic!("{name}: feature {j} of beat {i} is {}", row[j]);
        }
    }
    // JSON round-trips (f64 fields to the last bit or so: see the cache tests).
    let json = serde_json::to_string(a).unwrap();
    let back: Analysis = serde_json::from_str(&json).unwrap();
    let d = recut_tests::analysis_diff(a, &back, 1e-14);
    assert!(
        d.is_empty(),
        "{name}: JSON round trip changed the analysis:\n{}",
        d.join("\n")
    );
}

#[test]
fn one_song_satisfies_every_invariant() {
    let path = ensure_corpus().join("songs").join("hedgewars_city.ogg");
    let (a, _) = analyze_file(&path, &Corrections::default(), None, &mut |_| {}).unwrap();
    check("hedgewars_city", &a);
    assert_eq!(a.content_hash, content_hash(&path).unwrap());
    println!(
        "hedgewars_city: {:.1} s, {:.1} BPM, {}, {} beats, {} bars, {} phrases",
        a.duration_s,
        a.tempo_bpm,
        a.meter,
        a.beats.len(),
        a.downbeats.len(),
        a.phrases.len()
    );
}

#[test]
fn every_song_satisfies_every_invariant() {
    let dir = ensure_corpus().join("songs");
    let mut songs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ogg"))
        .collect();
    songs.sort();
    assert!(
        songs.len() >= 10,
        "{} songs in {}",
        songs.len(),
        dir.display()
    );
    songs.par_iter().for_each(|p| {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let (a, _) = analyze_file(p, &Corrections::default(), None, &mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&name, &a);
    });
}

#[test]
fn feature_table_is_contiguous_and_sums_to_feature_dim() {
    assert_eq!(FEATURE_DIM, 125);
    let mut next = 0;
    for g in FEATURE_TABLE.iter() {
        assert_eq!(
            g.offset, next,
            "group {} starts at {}, expected {next}",
            g.name, g.offset
        );
        assert!(g.len > 0 && !g.name.is_empty() && !g.description.is_empty());
        next += g.len;
    }
    assert_eq!(next, FEATURE_DIM);
    assert_eq!(FEATURE_TABLE.iter().map(|g| g.len).sum::<usize>(), 125);
    let mut names: Vec<&str> = FEATURE_TABLE.iter().map(|g| g.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FEATURE_TABLE.len(), "group names are unique");
}

#[test]
fn feature_rows_of_a_wrong_width_are_rejected() {
    let path = ensure_corpus().join("dev");
    let flac = std::fs::read_dir(&path)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "flac"))
        .unwrap();
    let (a, _) = analyze_file(&flac, &Corrections::default(), None, &mut |_| {}).unwrap();
    let mut v = serde_json::to_value(&a).unwrap();
    v["features"][0].as_array_mut().unwrap().pop();
    let e = serde_json::from_value::<Analysis>(v).unwrap_err();
    assert!(e.to_string().contains("expected 125"), "{e}");
}
