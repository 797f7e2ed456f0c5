//! `recut-trainer import-csv` and `stats` on hand-made files: a malformed record is
//! reported with its index and field and the rest are kept (lenient) or nothing is written
//! (strict); the figures of `stats` on a known file.

use std::path::Path;
use std::process::{Command, Output};

fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recut-trainer"))
}

/// `recut-trainer import-csv CSV --manifest MANIFEST --out OUT`.
fn import_csv(csv: &Path, manifest: &Path, out: &Path) -> Command {
    let mut c = trainer();
    c.arg("import-csv")
        .arg(csv)
        .arg("--manifest")
        .arg(manifest)
        .arg("--out")
        .arg(out);
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A manifest with one song and four candidates of four beats.
fn write_manifest(path: &Path) {
    let m = serde_json::json!({
        "songs": [{
            "song_id": "song",
            "candidates": [
                {"id": "temp_0.1", "actions": [0, 0, 0, 0], "duration_seconds": 8.0, "path": "song/temp_0.1.wav"},
                {"id": "temp_0.3", "actions": [0, 1, 1, 0], "duration_seconds": 4.0, "path": "song/temp_0.3.wav"},
                {"id": "temp_0.5", "actions": [0, 0, 1, 0], "duration_seconds": 6.0, "path": "song/temp_0.5.wav"},
                {"id": "temp_0.7", "actions": [1, 0, 0, 0], "duration_seconds": 6.0, "path": "song/temp_0.7.wav"}
            ]
        }]
    });
    std::fs::write(path, serde_json::to_string(&m).unwrap()).unwrap();
}

/// Data rows 0–4; row 2 has strength 7 and row 3 an unknown edit id.
const CSV: &str = "song_id,edit_a,edit_b,preference,strength
song,temp_0.1,temp_0.3,a,2
song,temp_0.3,temp_0.5,b,1
song,temp_0.1,temp_0.5,a,7
song,temp_0.1,temp_0.9,b,1
song,temp_0.5,temp_0.7,tie,0
";

#[test]
fn lenient_import_reports_index_and_field_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    write_manifest(&manifest);
    let csv = dir.path().join("feedback.csv");
    std::fs::write(&csv, CSV).unwrap();
    let out = dir.path().join("feedback/preferences.json");
    let o = import_csv(&csv, &manifest, &out).output().unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("record 2, field `strength`"),
        "strength problem not reported with index and field: {stderr}"
    );
    assert!(
        stderr.contains("record 3, field `edit_b`") && stderr.contains("temp_0.9"),
        "unknown edit id not reported: {stderr}"
    );
    assert!(stdout.contains("3 ratings written"), "{stdout}");
    assert!(stdout.contains("2 records not kept"), "{stdout}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let arr = written.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    // Full form: actions resolved through the manifest.
    assert_eq!(arr[0]["edit_b"]["actions"], serde_json::json!([0, 1, 1, 0]));
    assert_eq!(arr[2]["preference"], "tie");
}

#[test]
fn strict_import_stops_at_the_first_bad_record_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    write_manifest(&manifest);
    let csv = dir.path().join("feedback.csv");
    std::fs::write(&csv, CSV).unwrap();
    let out = dir.path().join("preferences.json");
    let o = import_csv(&csv, &manifest, &out)
        .arg("--strict")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(!o.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("record 2, field `strength`"), "{stderr}");
    assert!(
        !stderr.contains("record 3"),
        "strict mode went on: {stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_duplicate_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    write_manifest(&manifest);
    let csv = dir.path().join("dup.csv");
    std::fs::write(
        &csv,
        "song_id,edit_a,edit_b,preference,strength,rater,timestamp
song,temp_0.1,temp_0.3,a,2,ann,2026-01-01T00:00:00Z
song,temp_0.1,temp_0.3,a,2,ann,2026-01-01T00:00:00Z
",
    )
    .unwrap();
    let o = import_csv(&csv, &manifest, &dir.path().join("p.json"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("record 1") && stderr.contains("duplicate"),
        "{stderr}"
    );
    assert!(stdout.contains("1 ratings written"), "{stdout}");
}

/// Two raters on the same three pairs of one song (ann contradicts herself in a cycle),
/// sides recorded for ann.
fn known_ratings() -> serde_json::Value {
    let e = |id: &str, actions: serde_json::Value, d: f64| serde_json::json!({"id": id, "path": format!("{id}.wav"), "actions": actions, "duration_seconds": d});
    let x = e("x", serde_json::json!([0, 0, 0, 0]), 8.0);
    let y = e("y", serde_json::json!([0, 1, 1, 0]), 4.0);
    let z = e("z", serde_json::json!([1, 0, 0, 0]), 6.0);
    let r = |a: &serde_json::Value, b: &serde_json::Value, p: &str, rater: &str, left: &str| {
        serde_json::json!({"song_id": "song", "edit_a": a, "edit_b": b, "preference": p,
            "strength": 2, "rater": rater, "timestamp": format!("t-{rater}-{}-{}", a["id"], b["id"]),
            "notes": null, "left": left})
    };
    serde_json::json!([
        r(&x, &y, "a", "ann", "a"), // x > y, left won
        r(&y, &z, "a", "ann", "a"), // y > z, left won
        r(&z, &x, "a", "ann", "b"), // z > x: a cycle; right won
        r(&x, &y, "a", "bob", "a"),
        r(&y, &z, "b", "bob", "a"),
        r(&z, &x, "b", "bob", "a"),
    ])
}

#[test]
fn stats_on_a_known_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("preferences.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&known_ratings()).unwrap(),
    )
    .unwrap();
    let json = dir.path().join("stats.json");
    let o = trainer()
        .arg("stats")
        .arg(&file)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("6 ratings of 1 songs"), "{stdout}");
    assert!(stdout.contains("ann on song: x > y > z > x"), "{stdout}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(s["by_preference"]["a"], 4);
    assert_eq!(s["by_preference"]["b"], 2);
    assert_eq!(s["by_strength"], serde_json::json!([0, 0, 6, 0]));
    assert_eq!(s["contradictions"].as_array().unwrap().len(), 1);
    // Shared pairs: 3; ann and bob agree on x>y and disagree on the other two.
    // Oriented verdicts (first, second in name order): ann F, F, S; bob F, S, F.
    // po = 1/3; marginals ann F 2/3 S 1/3, bob F 2/3 S 1/3 → pe = 5/9; κ = (1/3 − 5/9)/(4/9) = −1/2.
    assert_eq!(s["agreement"]["shared_pairs"], 3);
    let kappa = s["agreement"]["pairs_of_raters"][0]["kappa"]
        .as_f64()
        .unwrap();
    assert!((kappa + 0.5).abs() < 1e-9, "{kappa}");
    // Position: ann's 3 decided ratings with sides (left won 2), bob's 3 (left won 1).
    assert_eq!(s["position"]["decided_with_side"], 6);
    assert_eq!(s["position"]["left_won"], 3);
    // Taste: durations x 8 s, y 4 s, z 6 s; the longer edit won ann's x>y and bob's x>y,
    // z>y, x>z: 4 of 6.
    let dur = s["taste"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["attribute"] == "duration")
        .unwrap();
    assert_eq!(dur["differing"], 6);
    assert_eq!(dur["winner_higher"], 4);
}
