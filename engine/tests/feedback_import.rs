//! Importing ratings: the three shapes, both seed forms, and every kind of bad record.

use std::path::{Path, PathBuf};

use recut_engine::edit::Action;
use recut_engine::feedback::{
    CandidateIndex, EditRef, FeedbackError, Format, Mode, Preference, ProblemKind, Rating, Side,
    TieKind, import_file, import_str, write_csv, write_json, write_jsonl,
};

const MANIFEST: &str = r#"{
  "recut_version": "0.1.0", "features_version": 3,
  "policy": {"path": null, "model_version": "baseline"},
  "songs": [
    {"song_id": "song1", "path": "songs/song1.flac", "content_hash": "ab", "duration_seconds": 8.0, "tempo_bpm": 120.0,
     "candidates": [
       {"id": "temp_0.1", "temperature": 0.1, "path": "song1/temp_0.1.wav", "duration_seconds": 6.0, "splices": 1, "actions": [0, 0, 1, 1]},
       {"id": "temp_0.5", "temperature": 0.5, "path": "song1/temp_0.5.wav", "duration_seconds": 7.5, "splices": 2, "actions": [0, 2, 0, 1]}
     ]},
    {"song_id": "song2", "path": "songs/song2.wav", "content_hash": "cd", "duration_seconds": 4.0, "tempo_bpm": 90.0,
     "candidates": [
       {"id": "temp_0.1", "temperature": 0.1, "path": "song2/temp_0.1.wav", "duration_seconds": 3.0, "splices": 1, "actions": [1, 0]}
     ]}
  ]
}"#;

fn index(dir: &Path) -> CandidateIndex {
    let p = dir.join("manifest.json");
    std::fs::write(&p, MANIFEST).unwrap();
    CandidateIndex::read(&p).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn full_ratings(ix: &CandidateIndex) -> Vec<Rating> {
    let a = ix.resolve("song1", "temp_0.1").unwrap();
    let b = ix.resolve("song1", "temp_0.5").unwrap();
    let mut r1 = Rating::new("song1", a.clone(), b.clone(), Preference::A, 2);
    r1.rater = Some("alice".into());
    r1.notes = Some("cleaner cut, \"tight\", no clash".into());
    r1.left = Some(Side::B);
    r1.features_version = Some(3);
    r1.song_hash = Some("ab".into());
    r1.policy_version = Some("baseline".into());
    let mut r2 = Rating::new("song1", b, a, Preference::Tie, 0);
    r2.tie_kind = Some(TieKind::Bad);
    r2.rater = Some("bob".into());
    r2.extra.insert("confidence".into(), serde_json::json!(0.4));
    let c = ix.resolve("song2", "temp_0.1").unwrap();
    let mut r3 = Rating::new(
        "song2",
        c,
        EditRef::from_actions(vec![Action::Keep, Action::Loop]),
        Preference::B,
        3,
    );
    r3.timestamp = Some("2024-03-01T10:00:00".into());
    vec![r1, r2, r3]
}

#[test]
fn json_array_round_trip_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = full_ratings(&index(dir.path()));
    let p = dir.path().join("preferences.json");
    write_json(&p, &ratings).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.trim_start().starts_with('['));
    // Seed full-form keys are always present.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for k in [
        "song_id",
        "edit_a",
        "edit_b",
        "preference",
        "strength",
        "rater",
        "timestamp",
        "notes",
    ] {
        assert!(v[2].get(k).is_some(), "missing {k}");
    }
    assert_eq!(v[0]["edit_a"]["actions"], serde_json::json!([0, 0, 1, 1]));
    assert_eq!(v[1]["preference"], "tie");
    assert_eq!(v[1]["tie_kind"], "bad");
    for mode in [Mode::Strict, Mode::Lenient] {
        let got = import_file(&p, None, mode).unwrap();
        assert_eq!(got.problems, vec![]);
        assert_eq!(got.ratings, ratings);
    }
}

#[test]
fn json_lines_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = full_ratings(&index(dir.path()));
    let p = dir.path().join("ratings.jsonl");
    write_jsonl(&p, &ratings).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 3);
    let got = import_file(&p, None, Mode::Strict).unwrap();
    assert_eq!(got.ratings, ratings);
    // Detected from the content too.
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(Format::detect(Path::new("x.txt"), &text), Format::JsonLines);
}

#[test]
fn csv_round_trip_through_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let ix = index(dir.path());
    let mut ratings: Vec<Rating> = full_ratings(&ix).into_iter().take(2).collect();
    // CSV carries the seed's columns (and rater, timestamp, notes); not Recut's own.
    for r in &mut ratings {
        r.id = None;
        r.tie_kind = None;
        r.left = None;
        r.features_version = None;
        r.song_hash = None;
        r.policy_version = None;
        r.extra.clear();
    }
    let p = dir.path().join("ratings.csv");
    write_csv(&p, &ratings).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with("song_id,edit_a,edit_b,preference,strength"),
        "{text}"
    );
    let got = import_file(&p, Some(&ix), Mode::Strict).unwrap();
    assert_eq!(got.problems, vec![]);
    assert_eq!(got.ratings, ratings);
    // An edit without a candidate id cannot be written as CSV.
    let all = full_ratings(&ix);
    assert!(matches!(
        write_csv(&p, &all),
        Err(FeedbackError::NoEditId {
            index: 2,
            side: "edit_b"
        })
    ));
}

#[test]
fn csv_seed_file_without_and_with_header() {
    let dir = tempfile::tempdir().unwrap();
    let ix = index(dir.path());
    let with = write(
        dir.path(),
        "a.csv",
        "song_id,edit_a,edit_b,preference,strength\nsong1,temp_0.1,temp_0.5,b,3\nsong2,temp_0.1,temp_0.1,tie,1\n",
    );
    let without = write(
        dir.path(),
        "b.csv",
        "song1,temp_0.1,temp_0.5,b,3\nsong2,temp_0.1,temp_0.1,tie,1\n",
    );
    let a = import_file(&with, Some(&ix), Mode::Strict).unwrap();
    let b = import_file(&without, Some(&ix), Mode::Strict).unwrap();
    assert_eq!(a.ratings.len(), 2);
    assert_eq!(a.ratings, b.ratings);
    assert_eq!(
        a.ratings[0].edit_b,
        ix.resolve("song1", "temp_0.5").unwrap()
    );
    assert_eq!(a.ratings[0].preference, Preference::B);
    // A header without a required column is a whole-file error.
    let bad = write(
        dir.path(),
        "c.csv",
        "song_id,edit_a,edit_b,strength\nsong1,temp_0.1,temp_0.5,3\n",
    );
    assert!(matches!(
        import_file(&bad, Some(&ix), Mode::Lenient),
        Err(FeedbackError::Csv { .. })
    ));
}

#[test]
fn seed_short_and_full_forms_parse() {
    let dir = tempfile::tempdir().unwrap();
    let ix = index(dir.path());
    let short = r#"[
      {"song_id": "song1", "edit_a_id": "temp_0.1", "edit_b_id": "temp_0.5", "preference": "a", "strength": 2, "reasoning": "smoother"},
      {"song_id": "song2", "edit_a_id": "temp_0.1", "edit_b_id": "temp_0.1", "preference": "tie", "strength": 0}
    ]"#;
    let got = import_str(short, Format::JsonArray, Some(&ix), Mode::Strict, None).unwrap();
    assert_eq!(got.ratings.len(), 2);
    let r = &got.ratings[0];
    assert_eq!(r.edit_a, ix.resolve("song1", "temp_0.1").unwrap());
    assert_eq!(
        r.edit_b.actions,
        vec![Action::Keep, Action::Loop, Action::Keep, Action::Cut]
    );
    assert_eq!(r.edit_b.path.as_deref(), Some("song1/temp_0.5.wav"));
    assert_eq!(r.notes.as_deref(), Some("smoother"));
    assert_eq!(r.id, None);

    let full = r#"[{"song_id": "x", "edit_a": {"path": "a.wav", "actions": [0, 1, 2], "duration_seconds": 3.5},
        "edit_b": {"path": "b.wav", "actions": ["keep", "keep", "cut"], "duration_seconds": null},
        "preference": "B", "strength": 1, "rater": "human", "timestamp": "2024-01-02T03:04:05.678901", "notes": ""}]"#;
    let got = import_str(full, Format::JsonArray, None, Mode::Strict, None).unwrap();
    let r = &got.ratings[0];
    assert_eq!(r.preference, Preference::B);
    assert_eq!(
        r.edit_a.actions,
        vec![Action::Keep, Action::Cut, Action::Loop]
    );
    assert_eq!(r.edit_a.duration_seconds, Some(3.5));
    assert_eq!(
        r.edit_b.actions,
        vec![Action::Keep, Action::Keep, Action::Cut]
    );
    assert_eq!(r.rater.as_deref(), Some("human"));
    assert_eq!((r.tie_kind, r.left, r.features_version), (None, None, None));
}

const GOOD: &str = r#"{"song_id": "s", "edit_a": {"actions": [0, 1]}, "edit_b": {"actions": [1, 0]}, "preference": "a", "strength": 1, "rater": "r", "timestamp": "t1"}"#;
const GOOD2: &str = r#"{"song_id": "s", "edit_a": {"actions": [0, 1]}, "edit_b": {"actions": [1, 0]}, "preference": "b", "strength": 3, "rater": "r", "timestamp": "t2"}"#;
const BAD_PREF: &str = r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "c", "strength": 1}"#;
const BAD_STRENGTH: &str = r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "a", "strength": 7}"#;
const NO_PREF: &str =
    r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "strength": 1}"#;
const BAD_ACTION: &str = r#"{"song_id": "s", "edit_a": {"actions": [0, 3]}, "edit_b": {"actions": [1]}, "preference": "a", "strength": 1}"#;

/// (index, field) of each problem.
fn where_(
    problems: &[recut_engine::feedback::RecordError],
) -> Vec<(usize, Option<usize>, Option<&str>)> {
    problems
        .iter()
        .map(|p| (p.index, p.line, p.field.as_deref()))
        .collect()
}

#[test]
fn malformed_json_lines_are_reported_with_index_line_and_field() {
    let text = [
        GOOD,
        BAD_PREF,
        BAD_STRENGTH,
        "",
        NO_PREF,
        "this is not json",
        BAD_ACTION,
        GOOD2,
    ]
    .join("\n")
        + "\n";
    let lenient = import_str(
        &text,
        Format::JsonLines,
        None,
        Mode::Lenient,
        Some(Path::new("r.jsonl")),
    )
    .unwrap();
    assert_eq!(lenient.ratings.len(), 2);
    assert_eq!(lenient.ratings[1].strength, 3);
    // The blank line 4 is no record: indices count records, lines count lines.
    assert_eq!(
        where_(&lenient.problems),
        vec![
            (1, Some(2), Some("preference")),
            (2, Some(3), Some("strength")),
            (3, Some(5), Some("preference")),
            (4, Some(6), None),
            (5, Some(7), Some("edit_a.actions[1]")),
        ]
    );
    assert!(
        lenient
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::Invalid)
    );
    assert!(
        lenient.problems[1].message.contains("7"),
        "{}",
        lenient.problems[1]
    );
    assert!(
        lenient.problems[2].message.contains("missing"),
        "{}",
        lenient.problems[2]
    );
    assert!(
        lenient.problems[3].message.contains("not valid JSON"),
        "{}",
        lenient.problems[3]
    );
    let shown = lenient.problems[0].to_string();
    assert!(
        shown.starts_with("r.jsonl:2: record 1, field `preference`"),
        "{shown}"
    );

    match import_str(&text, Format::JsonLines, None, Mode::Strict, None) {
        Err(FeedbackError::Record(e)) => {
            assert_eq!(
                (e.index, e.line, e.field.as_deref()),
                (1, Some(2), Some("preference"))
            );
        }
        other => panic!("strict mode should stop at the bad preference: {other:?}"),
    }
}

#[test]
fn malformed_json_array_elements_are_reported_with_index_and_line() {
    let text = format!("[\n{GOOD},\n{BAD_STRENGTH},\n\"not a record\",\n{NO_PREF},\n{GOOD2}\n]");
    let lenient = import_str(&text, Format::JsonArray, None, Mode::Lenient, None).unwrap();
    assert_eq!(lenient.ratings.len(), 2);
    assert_eq!(
        where_(&lenient.problems),
        vec![
            (1, Some(3), Some("strength")),
            (2, Some(4), None),
            (3, Some(5), Some("preference"))
        ]
    );
    match import_str(&text, Format::JsonArray, None, Mode::Strict, None) {
        Err(FeedbackError::Record(e)) => {
            assert_eq!((e.index, e.field.as_deref()), (1, Some("strength")))
        }
        other => panic!("{other:?}"),
    }
    // A file that is not JSON at all: a whole-file error in both modes.
    for mode in [Mode::Strict, Mode::Lenient] {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "prefs.json", "this is not json\n");
        assert!(
            matches!(
                import_file(&p, None, mode),
                Err(FeedbackError::Syntax { line: 1, .. })
            ),
            "{mode:?}"
        );
    }
}

#[test]
fn malformed_csv_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ix = index(dir.path());
    let text = "song_id,edit_a,edit_b,preference,strength\n\
                song1,temp_0.1,temp_0.5,a,2\n\
                song1,temp_0.1,temp_0.5,maybe,2\n\
                song1,temp_0.1,temp_0.5,b,7\n\
                song1,temp_0.1,temp_0.5,,2\n\
                song1,temp_0.1,temp_0.5,b,strong\n\
                song1,temp_0.1\n\
                song1,temp_0.1,temp_0.9,b,1\n\
                song2,temp_0.1,temp_0.1,tie,1\n";
    let lenient = import_str(text, Format::Csv, Some(&ix), Mode::Lenient, None).unwrap();
    assert_eq!(lenient.ratings.len(), 2);
    assert_eq!(
        where_(&lenient.problems),
        vec![
            (1, Some(3), Some("preference")),
            (2, Some(4), Some("strength")),
            (3, Some(5), Some("preference")),
            (4, Some(6), Some("strength")),
            (5, Some(7), None),
            (6, Some(8), Some("edit_b")),
        ]
    );
    assert!(lenient.problems[5].message.contains("temp_0.9"));
    assert!(matches!(
        import_str(text, Format::Csv, Some(&ix), Mode::Strict, None),
        Err(FeedbackError::Record(e)) if e.index == 1 && e.field.as_deref() == Some("preference")
    ));
}

#[test]
fn unknown_edit_ids_and_songs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ix = index(dir.path());
    let text = r#"{"song_id": "song1", "edit_a_id": "temp_0.1", "edit_b_id": "temp_0.7", "preference": "a", "strength": 2}
{"song_id": "song9", "edit_a_id": "temp_0.1", "edit_b_id": "temp_0.5", "preference": "a", "strength": 2}
{"song_id": "song1", "edit_a_id": "temp_0.1", "edit_b_id": "temp_0.5", "preference": "a", "strength": 2}
"#;
    let got = import_str(text, Format::JsonLines, Some(&ix), Mode::Lenient, None).unwrap();
    assert_eq!(got.ratings.len(), 1);
    assert_eq!(
        where_(&got.problems),
        vec![
            (0, Some(1), Some("edit_b_id")),
            (1, Some(2), Some("edit_a_id"))
        ]
    );
    assert!(
        got.problems[0].message.contains("temp_0.7")
            && got.problems[0].message.contains("temp_0.5"),
        "{}",
        got.problems[0]
    );
    assert!(got.problems[1].message.contains("song9"));
    // Without a manifest, ids cannot resolve: say so.
    let got = import_str(text, Format::JsonLines, None, Mode::Lenient, None).unwrap();
    assert!(got.ratings.is_empty());
    assert!(got.problems.iter().all(|p| p.message.contains("manifest")));
    assert!(
        matches!(import_str(text, Format::JsonLines, Some(&ix), Mode::Strict, None), Err(FeedbackError::Record(e)) if e.index == 0)
    );
}

#[test]
fn duplicates_are_kept_once_and_reported() {
    let with_id = r#"{"id": "11111111-2222-4333-8444-555555555555", "song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "a", "strength": 1}"#;
    let same_id = r#"{"id": "11111111-2222-4333-8444-555555555555", "song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "b", "strength": 2, "rater": "x"}"#;
    // Same song, edits, rater and timestamp as GOOD, another verdict: a duplicate.
    let same_content = GOOD.replace("\"strength\": 1", "\"strength\": 2");
    // Two anonymous short-form verdicts on one pair are different ratings.
    let anon1 = r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "a", "strength": 2}"#;
    let anon2 = r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "b", "strength": 1}"#;
    let text = [with_id, GOOD, same_id, &same_content, anon1, anon2, anon2].join("\n");
    let got = import_str(&text, Format::JsonLines, None, Mode::Lenient, None).unwrap();
    assert_eq!(got.ratings.len(), 4);
    assert_eq!(
        got.ratings[0].id.as_deref(),
        Some("11111111-2222-4333-8444-555555555555")
    );
    assert_eq!(
        got.ratings[0].preference,
        Preference::A,
        "the first of duplicates is kept"
    );
    let dups: Vec<usize> = got
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Duplicate)
        .map(|p| p.index)
        .collect();
    assert_eq!(dups, vec![2, 3, 6]);
    assert_eq!(got.problems.len(), 3);
    assert!(
        got.problems[0].message.contains("record 0"),
        "{}",
        got.problems[0]
    );
    match import_str(&text, Format::JsonLines, None, Mode::Strict, None) {
        Err(FeedbackError::Record(e)) => assert_eq!((e.index, e.kind), (2, ProblemKind::Duplicate)),
        other => panic!("{other:?}"),
    }
    // Different ids are different ratings, even with the same song, edits, rater and time.
    let id2 = GOOD.replacen('{', r#"{"id": "b", "#, 1);
    let id1 = GOOD.replacen('{', r#"{"id": "a", "#, 1);
    let got = import_str(
        &[id1, id2].join("\n"),
        Format::JsonLines,
        None,
        Mode::Strict,
        None,
    )
    .unwrap();
    assert_eq!(got.ratings.len(), 2);
}

#[test]
fn torn_last_line_is_a_warning_even_in_strict_mode() {
    let text = format!("{GOOD}\n{GOOD2}\n{}", &GOOD[..40]);
    for mode in [Mode::Strict, Mode::Lenient] {
        let got = import_str(&text, Format::JsonLines, None, mode, None).unwrap();
        assert_eq!(got.ratings.len(), 2);
        assert_eq!(got.problems.len(), 1);
        assert_eq!(
            (got.problems[0].kind, got.problems[0].line),
            (ProblemKind::Torn, Some(3))
        );
        assert_eq!(got.warnings().count(), 1);
        assert_eq!(got.errors().count(), 0);
    }
}

#[test]
fn tie_kind_on_a_non_tie_and_bad_enums_are_errors() {
    let text = [
        r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "a", "strength": 1, "tie_kind": "good"}"#,
        r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "tie", "strength": 1, "tie_kind": "meh"}"#,
        r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "tie", "strength": 1, "left": "c"}"#,
        r#"{"song_id": "s", "edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "tie", "strength": -1}"#,
        r#"{"song_id": "s", "edit_a": [0, 1], "edit_b": {"actions": [1]}, "preference": "tie", "strength": 1}"#,
        r#"{"edit_a": {"actions": [0]}, "edit_b": {"actions": [1]}, "preference": "tie", "strength": 1}"#,
    ]
    .join("\n");
    let got = import_str(&text, Format::JsonLines, None, Mode::Lenient, None).unwrap();
    assert!(got.ratings.is_empty());
    let fields: Vec<Option<&str>> = got.problems.iter().map(|p| p.field.as_deref()).collect();
    assert_eq!(
        fields,
        vec![
            Some("tie_kind"),
            Some("tie_kind"),
            Some("left"),
            Some("strength"),
            Some("edit_a"),
            Some("song_id")
        ]
    );
}
