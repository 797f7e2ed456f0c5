//! The feedback store: append, read, export, torn lines, concurrent writers, errors.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use recut_engine::edit::Action;
use recut_engine::feedback::{
    EditRef, FeedbackError, Mode, Preference, ProblemKind, Rating, Side, Store, TieKind,
    import_file,
};

/// Set in a child process started by [`two_threads_and_two_processes_append_at_once`].
const CHILD_ENV: &str = "RECUT_FEEDBACK_CHILD_STORE";
const PER_WRITER: usize = 200;

fn rating(i: usize, rater: Option<&str>) -> Rating {
    let a = EditRef {
        id: Some("temp_0.1".into()),
        path: Some("song/temp_0.1.wav".into()),
        actions: vec![Action::Keep, Action::Cut, Action::Loop, Action::Keep],
        duration_seconds: Some(12.25),
    };
    let b = EditRef::from_actions(vec![Action::Keep; 4]);
    let mut r = Rating::new(
        format!("song{}", i % 7),
        a,
        b,
        if i.is_multiple_of(2) {
            Preference::A
        } else {
            Preference::B
        },
        (i % 4) as u8,
    );
    r.rater = rater.map(str::to_owned);
    r.notes = Some(format!("rating {i} — ünïcode \"quoted\"\nsecond line"));
    r.left = Some(Side::A);
    r.features_version = Some(3);
    r
}

fn non_empty_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn append_read_all_and_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("feedback")).unwrap();
    assert!(store.dir().is_dir());
    let mut written = Vec::new();
    for i in 0..5 {
        let r = rating(i, if i < 3 { Some("Alice Smith") } else { None });
        let id = store.append(&r).unwrap();
        assert_eq!(Some(&id), r.id.as_ref());
        written.push(r);
    }
    // A rating without id gets one, and a tie keeps its kind.
    let mut tie = rating(9, Some("bob"));
    tie.id = None;
    tie.preference = Preference::Tie;
    tie.tie_kind = Some(TieKind::Good);
    let id = store.append(&tie).unwrap();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    tie.id = Some(id);
    written.push(tie);

    let names: Vec<String> = store
        .files()
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![
            "ratings-Alice_Smith.jsonl",
            "ratings-bob.jsonl",
            "ratings-default.jsonl"
        ]
    );
    assert_eq!(
        non_empty_lines(&store.file_for(Some("Alice Smith"))).len(),
        3
    );

    let loaded = store.read_all().unwrap();
    assert_eq!(loaded.problems, vec![]);
    let mut got = loaded.ratings.clone();
    let key = |r: &Rating| r.notes.clone();
    got.sort_by_key(key);
    written.sort_by_key(key);
    assert_eq!(got, written);

    let out = dir.path().join("preferences.json");
    let exported = store.export_preferences(&out).unwrap();
    assert_eq!(exported.ratings.len(), 6);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .trim_start()
            .starts_with('[')
    );
    let back = import_file(&out, None, Mode::Strict).unwrap();
    assert_eq!(back.ratings, loaded.ratings);
    // No temporary file left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn invalid_rating_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut r = rating(0, None);
    r.strength = 7;
    match store.append(&r) {
        Err(FeedbackError::Record(e)) => assert_eq!(e.field.as_deref(), Some("strength")),
        other => panic!("{other:?}"),
    }
    assert!(!store.file_for(None).exists());
}

#[test]
fn torn_last_line_is_skipped_and_the_next_append_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (r0, r1, r2) = (rating(0, None), rating(1, None), rating(2, None));
    store.append(&r0).unwrap();
    store.append(&r1).unwrap();
    let file = store.file_for(None);
    // What a crash in the middle of a write leaves: part of a record, no newline.
    let line = serde_json::to_string(&r2).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(&line.as_bytes()[..line.len() / 2])
        .unwrap();

    let loaded = store.read_all().unwrap();
    assert_eq!(loaded.ratings, vec![r0.clone(), r1.clone()]);
    assert_eq!(loaded.problems.len(), 1);
    let w = &loaded.problems[0];
    assert_eq!(
        (w.kind, w.line, w.file.as_deref()),
        (ProblemKind::Torn, Some(3), Some(file.as_path()))
    );
    assert!(w.kind.is_warning());

    // The next append must not glue its record onto the torn fragment.
    store.append(&r2).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(serde_json::from_str::<serde_json::Value>(lines[2]).is_err());
    assert!(serde_json::from_str::<serde_json::Value>(lines[3]).is_ok());
    let loaded = store.read_all().unwrap();
    assert_eq!(loaded.ratings, vec![r0, r1, r2]);
    assert_eq!(loaded.problems.len(), 1);
    assert_eq!(
        (loaded.problems[0].kind, loaded.problems[0].line),
        (ProblemKind::Torn, Some(3))
    );
    // Strict import of the store's file reads it the same way: the torn line only warns.
    let strict = import_file(&file, None, Mode::Strict).unwrap();
    assert_eq!(strict.ratings.len(), 3);
}

#[test]
fn malformed_middle_line_and_duplicate_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (r0, r1) = (rating(0, Some("x")), rating(1, Some("x")));
    store.append(&r0).unwrap();
    let file = store.file_for(Some("x"));
    let mut bad = serde_json::to_value(rating(5, Some("x"))).unwrap();
    bad["strength"] = serde_json::json!(7);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    writeln!(f, "{bad}").unwrap();
    writeln!(f, "not json at all").unwrap();
    drop(f);
    store.append(&r1).unwrap();
    store.append(&r0).unwrap(); // a retried append: the same id again

    let loaded = store.read_all().unwrap();
    assert_eq!(loaded.ratings, vec![r0, r1]);
    let seen: Vec<(ProblemKind, Option<usize>, Option<&str>)> = loaded
        .problems
        .iter()
        .map(|p| (p.kind, p.line, p.field.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (ProblemKind::Invalid, Some(2), Some("strength")),
            (ProblemKind::Invalid, Some(3), None),
            (ProblemKind::Duplicate, Some(5), Some("id")),
        ]
    );
    assert!(
        loaded
            .problems
            .iter()
            .all(|p| p.file.as_deref() == Some(file.as_path()))
    );
    assert!(
        loaded.problems[0]
            .to_string()
            .contains("ratings-x.jsonl:2:"),
        "{}",
        loaded.problems[0]
    );
}

/// Child side of the concurrency test: appends [`PER_WRITER`] ratings and exits. A no-op
/// when run as an ordinary test.
#[test]
fn child_writer_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let tag: usize = std::env::var(format!("{CHILD_ENV}_TAG"))
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open(&dir).unwrap();
    for i in 0..PER_WRITER {
        store
            .append(&rating(tag * 1000 + i, Some("shared")))
            .unwrap();
    }
}

#[test]
fn two_threads_and_two_processes_append_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (2..4)
        .map(|tag| {
            std::process::Command::new(&exe)
                .args([
                    "child_writer_process",
                    "--exact",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(CHILD_ENV, dir.path())
                .env(format!("{CHILD_ENV}_TAG"), tag.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for tag in 0..2 {
            // Each thread with its own handle, like two plugin instances.
            let store = Store::open(dir.path()).unwrap();
            s.spawn(move || {
                for i in 0..PER_WRITER {
                    store
                        .append(&rating(tag * 1000 + i, Some("shared")))
                        .unwrap();
                }
            });
        }
    });
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }

    let file = store.file_for(Some("shared"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 4 * PER_WRITER);
    let mut notes = HashSet::new();
    for l in &lines {
        let r: Rating = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("torn or interleaved line {l:?}: {e}"));
        notes.insert(r.notes.unwrap());
    }
    assert_eq!(notes.len(), 4 * PER_WRITER);
    let loaded = store.read_all().unwrap();
    assert_eq!(loaded.problems, vec![]);
    assert_eq!(loaded.ratings.len(), 4 * PER_WRITER);
    // Each writer's records are in its own order.
    for tag in 0..4 {
        let mine: Vec<usize> = loaded
            .ratings
            .iter()
            .filter_map(|r| {
                r.notes
                    .as_deref()?
                    .strip_prefix("rating ")?
                    .split(' ')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .filter(|n| n / 1000 == tag)
            .collect();
        assert_eq!(
            mine,
            (tag * 1000..tag * 1000 + PER_WRITER).collect::<Vec<_>>()
        );
    }
}

/// Whether permissions bind us (false for root, which writes anywhere).
fn permissions_apply(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    std::fs::create_dir(&probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o500)).unwrap();
    let denied = std::fs::write(probe.join("f"), b"x").is_err();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o700)).unwrap();
    denied
}

#[test]
fn unwritable_folder_is_a_typed_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A path under a regular file cannot be a folder, whoever we are.
    let file = dir.path().join("file.txt");
    std::fs::write(&file, b"not a folder").unwrap();
    assert!(matches!(
        Store::open(&file),
        Err(FeedbackError::NotADirectory { .. })
    ));
    match Store::open(file.join("sub")) {
        Err(FeedbackError::Unwritable { path, .. }) => assert_eq!(path, file.join("sub")),
        other => panic!("{other:?}"),
    }
    if permissions_apply(dir.path()) {
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let store = Store::open(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        assert!(matches!(
            Store::open(&ro),
            Err(FeedbackError::Unwritable { .. })
        ));
        assert!(matches!(
            store.append(&rating(0, None)),
            Err(FeedbackError::Unwritable { .. })
        ));
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
    } else {
        eprintln!(
            "running as root: the chmod 0o500 case is not checked (root ignores permissions)"
        );
    }
}

#[test]
fn full_disk_is_store_full_and_leaves_the_store_unchanged() {
    let dev_full = Path::new("/dev/full");
    if !dev_full.exists() {
        eprintln!("no /dev/full: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let kept = rating(0, Some("alice"));
    store.append(&kept).unwrap();
    let alice = store.file_for(Some("alice"));
    let before = std::fs::read(&alice).unwrap();
    // The default rater's file is the full disk.
    let full = store.file_for(None);
    std::os::unix::fs::symlink(dev_full, &full).unwrap();
    match store.append(&rating(1, None)) {
        Err(FeedbackError::StoreFull { path }) => assert_eq!(path, full),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&alice).unwrap(), before);
    let loaded = store.read_all().unwrap();
    assert_eq!(loaded.ratings, vec![kept]);
    assert_eq!(loaded.problems.len(), 1);
    assert_eq!(loaded.problems[0].kind, ProblemKind::Skipped);
    assert_eq!(loaded.errors().count(), 0);
    let e = recut_engine::Error::from(store.append(&rating(2, None)).unwrap_err());
    assert!(e.to_string().contains("disk full"), "{e}");
}
