//! Candidates: distinct plans per temperature, rendering, the manifest.

mod edit_support;

use std::path::Path;

use edit_support::default_song;
use recut_engine::analysis::cache::Cache;
use recut_engine::candidates::{
    BaselinePolicy, CandidateOptions, Manifest, Policy, Target, decode_candidates, process_song,
};
use recut_engine::edit::EditError;

#[test]
fn one_distinct_candidate_per_temperature() {
    let (_, a) = default_song();
    let logits = BaselinePolicy.logits(&a).unwrap();
    let opts = CandidateOptions {
        target: Target::Fraction(0.6),
        ..CandidateOptions::default()
    };
    let cands = decode_candidates(&a, &logits, &opts).unwrap();
    assert_eq!(cands.len(), 5);
    let ids: Vec<&str> = cands.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["temp_0.1", "temp_0.3", "temp_0.5", "temp_0.7", "temp_0.9"]
    );
    for (i, c) in cands.iter().enumerate() {
        assert!((c.plan.duration_s() - 0.6 * a.duration_s).abs() <= 2.0);
        for d in &cands[..i] {
            assert_ne!(
                d.plan.actions, c.plan.actions,
                "{} duplicates {}",
                c.id, d.id
            );
        }
    }
    // Deterministic.
    let again = decode_candidates(&a, &logits, &opts).unwrap();
    assert!(cands.iter().zip(&again).all(|(x, y)| x.plan == y.plan));
}

#[test]
fn zero_temperatures_is_an_error() {
    let (_, a) = default_song();
    let logits = BaselinePolicy.logits(&a).unwrap();
    let opts = CandidateOptions {
        temperatures: vec![],
        ..CandidateOptions::default()
    };
    let e = decode_candidates(&a, &logits, &opts).unwrap_err();
    assert!(
        matches!(e, recut_engine::Error::Edit(EditError::NoCandidates)),
        "{e}"
    );
}

#[test]
fn corpus_song_candidates_render_and_manifest_round_trips() {
    let song = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/songs/hedgewars_oriental.ogg");
    if !song.exists() {
        eprintln!("skipping: {} not found", song.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let out = dir.path().join("eval_outputs");
    let opts = CandidateOptions {
        temperatures: vec![0.1, 0.5, 0.9],
        ..CandidateOptions::default()
    };
    let t0 = std::time::Instant::now();
    let entry = process_song(&song, &BaselinePolicy, &opts, &out, Some(&cache)).unwrap();
    eprintln!(
        "3 candidates of a {:.0} s song in {:.2} s",
        entry.duration_seconds,
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(entry.song_id, "hedgewars_oriental");
    assert_eq!(entry.candidates.len(), 3);
    for c in &entry.candidates {
        let wav = out.join(&c.path);
        let r = hound::WavReader::open(&wav).unwrap();
        let secs = r.duration() as f64 / f64::from(r.spec().sample_rate);
        assert!(
            (secs - c.duration_seconds).abs() < 1e-3,
            "{} vs {}",
            secs,
            c.duration_seconds
        );
        assert!((c.duration_seconds - 0.75 * entry.duration_seconds).abs() <= 2.0);
    }
    let mut m = Manifest::new(&BaselinePolicy);
    m.songs.push(entry);
    let path = out.join("manifest.json");
    m.write(&path).unwrap();
    let back = Manifest::read(&path).unwrap();
    assert_eq!(back, m);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for key in ["recut_version", "features_version", "policy", "songs"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    let c = &v["songs"][0]["candidates"][0];
    for key in [
        "id",
        "temperature",
        "path",
        "duration_seconds",
        "splices",
        "actions",
    ] {
        assert!(c.get(key).is_some(), "{key}");
    }
    assert!(c["actions"][0].is_u64());
    assert!(v["policy"]["path"].is_null());
}
