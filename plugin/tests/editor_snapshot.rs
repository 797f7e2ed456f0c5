//! The editor headless in egui_kittest: rendered with wgpu on Mesa's software Vulkan
//! (lavapipe, `mesa-vulkan-drivers`) and compared with `tests/snapshots/editor.png`, and
//! driven through the accessibility tree the way a screen reader sees it (kittest also
//! fails on any input widget without an accessible name).
//!
//! The editor is drawn as outside a host (`RecutApp::draw(ui, None)`: no parameter
//! widgets) over a synthetic song, so the picture does not depend on the analysis.
//!
//! After a deliberate UI change, refresh the image with
//! `UPDATE_SNAPSHOTS=1 cargo test --release -p recut-plugin --test editor_snapshot`
//! and look at it before committing. On a mismatch kittest leaves `editor.new.png` and
//! `editor.diff.png` beside it.

use crossbeam_channel::Receiver;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use recut_engine::edit::Action;
use recut_engine::feedback::{Preference, Side};
use recut_plugin::editor::RecutApp;
use recut_plugin::params::RecutParams;
use recut_plugin::shared::Shared;
use recut_plugin::worker::{CandidateView, Command, SongView, View};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// A 32.5 s song at 120 BPM with three candidates (fixed, so the image is stable).
fn song_view() -> SongView {
    let beats: Vec<f64> = (0..64).map(|i| 0.25 + i as f64 * 0.5).collect();
    SongView {
        name: "demo".into(),
        path: None,
        duration_s: 32.5,
        sample_rate: 48_000,
        tempo_bpm: 120.0,
        beats_per_bar: 4,
        peaks: (0..500)
            .map(|i| {
                let x = i as f32 / 500.0;
                let a = 0.2 + 0.7 * (x * 37.0).sin().abs() * (1.0 - x * 0.5);
                (-a, a * 0.9)
            })
            .collect(),
        downbeats: (0..16).map(|b| b * 4).collect(),
        phrases: (0..4).map(|p| p * 16..p * 16 + 16).collect(),
        beats,
        corrections: Default::default(),
        candidates: (0..3)
            .map(|k| CandidateView {
                id: format!("temp_0.{k}"),
                temperature: k as f64 / 10.0,
                duration_s: 20.0 + k as f64,
                splices: k + 2,
                actions: (0..64).map(|i| Action::ALL[(i / 8 + k) % 3]).collect(),
                dense: Some(0.5 + k as f64 / 10.0),
            })
            .collect(),
        policy: "baseline policy: test".into(),
    }
}

struct Rig {
    app: RecutApp,
    params: Arc<RecutParams>,
    shared: Arc<Shared>,
    commands: Receiver<Command>,
}

fn rig() -> Rig {
    let (tx, commands) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared::new(tx));
    let params = Arc::new(RecutParams::default());
    shared.set_view(View {
        song: Some(song_view()),
        ratings: 2,
        last_ready_s: Some(0.5),
    });
    // The defaults come from $USER and $XDG_DATA_HOME; fixed here so the image is the
    // same on every machine.
    {
        let mut session = params.session.write().unwrap();
        session.rater = "tester".into();
        session.store_dir = "/recut/feedback".into();
    }
    Rig {
        app: RecutApp::new(params.clone(), shared.clone()),
        params,
        shared,
        commands,
    }
}

fn harness(rig: Rig) -> Harness<'static, Rig> {
    Harness::builder()
        // The editor's default width (EditorPrefs::default()); 40 px taller than its
        // default height, which puts the status line below the fold.
        .with_size(egui::vec2(900.0, 760.0))
        .with_pixels_per_point(1.0)
        .build_ui_state(
            |ui, rig: &mut Rig| {
                // As in the plugin window: a panel paints the background.
                egui::CentralPanel::default().show(ui, |ui| rig.app.draw(ui, None));
            },
            rig,
        )
}

#[test]
fn editor_matches_snapshot() {
    let mut harness = harness(rig());
    harness.run();
    harness.snapshot("editor");
}

#[test]
fn editor_widgets_work_by_accessible_label() {
    let mut harness = harness(rig());
    harness.run();

    // Loop checkbox: a shared flag the audio thread reads.
    assert!(!harness.state().shared.loop_on.load(Relaxed));
    harness.get_by_label("Loop").click();
    harness.run();
    assert!(harness.state().shared.loop_on.load(Relaxed));

    // "Keep ending" checkbox: persisted in the session (part of the plugin state).
    let before = harness.state().params.session.read().unwrap().keep_ending;
    harness.get_by_label("ending").click();
    harness.run();
    assert_eq!(
        harness.state().params.session.read().unwrap().keep_ending,
        !before
    );

    // Grid correction goes to the worker.
    harness.get_by_label("Half tempo").click();
    harness.run();
    match harness.state().commands.try_recv() {
        Ok(Command::Correct(c)) => assert_eq!(
            c.tempo,
            recut_engine::analysis::TempoCorrection::Half,
            "{c:?}"
        ),
        other => panic!("expected Command::Correct, got {other:?}"),
    }

    // Rating: "strong", a note, then "Left better" (left is A before the first rating).
    harness.get_by_label("strong").click();
    harness.run();
    harness.get_by_label("Notes").click();
    harness.run();
    harness.get_by_label("Notes").type_text("tight loop");
    harness.run();
    harness.get_by_label("Left better").click();
    harness.run();
    match harness.state().commands.try_recv() {
        Ok(Command::Rate(r)) => {
            assert_eq!((r.a, r.b), (0, 1));
            assert_eq!(r.left, Side::A);
            assert_eq!(r.preference, Preference::A);
            assert_eq!(r.tie_kind, None);
            assert_eq!(r.strength, 3);
            assert_eq!(r.notes, "tight loop");
        }
        other => panic!("expected Command::Rate, got {other:?}"),
    }
    // After a rating the next pair is two different candidates.
    let (a, b) = (
        harness.state().shared.pick_a.load(Relaxed),
        harness.state().shared.pick_b.load(Relaxed),
    );
    assert!(a < 3 && b < 3 && a != b, "next pair {a} {b}");
    assert!(harness.state().commands.try_recv().is_err());
}

/// A file as a window system integration hands it to egui.
#[derive(Debug)]
struct DroppedPath(std::path::PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Dragging a file over the editor shows where it would go; dropping it loads it (the
/// worker gets `LoadFile`) and puts its path in the song field.
#[test]
fn dropping_a_file_loads_it() {
    let mut harness = harness(rig());
    harness.run();
    let song = std::path::PathBuf::from("/music/dropped song.flac");
    harness.input_mut().hovered_files.push(egui::HoveredFile {
        path: Some(song.clone()),
        mime: String::new(),
    });
    // egui repaints continuously while files hover: step frames instead of settling.
    harness.run_steps(2);
    harness.get_by_label("Drop to load /music/dropped song.flac");
    assert!(
        harness.state().commands.try_recv().is_err(),
        "hovering loads nothing"
    );

    harness.input_mut().hovered_files.clear();
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(song.clone())));
    harness.step();
    match harness.state().commands.try_recv() {
        Ok(Command::LoadFile(p)) => assert_eq!(p, song),
        other => panic!("expected Command::LoadFile, got {other:?}"),
    }
    harness.run();
    // One drop, one load (the dropped list is consumed by the frame that saw it).
    assert!(harness.state().commands.try_recv().is_err());
    assert!(
        harness
            .query_by_label("Drop to load /music/dropped song.flac")
            .is_none()
    );
    assert_eq!(
        harness.state().shared.status.line(),
        "loading /music/dropped song.flac…"
    );
    let field = harness.get_by_label("Song file");
    assert_eq!(
        field.accesskit_node().value().as_deref(),
        Some("/music/dropped song.flac")
    );
}
