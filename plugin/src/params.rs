//! Recut's parameters and persisted state. The `#[id]`s and `#[persist]` keys are stored in
//! hosts' projects and presets: never rename them.

use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Every parameter id, in declaration order (what hosts store).
pub const PARAM_IDS: [&str; 5] = [
    "target_seconds",
    "granularity",
    "audition",
    "capture",
    "capture_seconds",
];

/// Default and range of the target length, in seconds.
pub const TARGET_SECONDS_DEFAULT: f32 = 120.0;
pub const TARGET_SECONDS_MIN: f32 = 10.0;
pub const TARGET_SECONDS_MAX: f32 = 900.0;

/// The unit edits are made in: every beat of a unit gets the same action.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    #[id = "beat"]
    #[name = "Beat"]
    Beat,
    #[id = "bar"]
    #[name = "Bar"]
    Bar,
    #[id = "phrase"]
    #[name = "Phrase"]
    Phrase,
}

/// What plays: the original song or one of the two candidates picked as A and B.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audition {
    #[id = "original"]
    #[name = "Original"]
    Original,
    #[id = "a"]
    #[name = "A"]
    A,
    #[id = "b"]
    #[name = "B"]
    B,
}

impl Granularity {
    /// The engine's granularity.
    pub fn engine(self) -> recut_engine::edit::Granularity {
        match self {
            Granularity::Beat => recut_engine::edit::Granularity::Beat,
            Granularity::Bar => recut_engine::edit::Granularity::Bar,
            Granularity::Phrase => recut_engine::edit::Granularity::Phrase,
        }
    }
}

/// The editor's window size and zoom, kept with the project so it reopens as it was left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EditorPrefs {
    pub width: u32,
    pub height: u32,
    pub zoom: f32,
}

impl Default for EditorPrefs {
    fn default() -> Self {
        Self {
            width: 900,
            height: 720,
            zoom: 1.0,
        }
    }
}

#[derive(Params)]
pub struct RecutParams {
    /// Editor size and zoom; read and written on the GUI thread only.
    #[persist = "editor"]
    pub editor: Arc<RwLock<EditorPrefs>>,

    /// The song, its grid corrections, candidates and settings; written by the worker and
    /// the editor (never the audio thread).
    #[persist = "session"]
    pub session: Arc<RwLock<Session>>,

    /// How long the edited song should be.
    #[id = "target_seconds"]
    pub target_seconds: FloatParam,

    /// Beat, bar or phrase edits.
    #[id = "granularity"]
    pub granularity: EnumParam<Granularity>,

    /// Original, A or B.
    #[id = "audition"]
    pub audition: EnumParam<Audition>,

    /// Record the input while the transport plays.
    #[id = "capture"]
    pub capture: BoolParam,

    /// Length of the capture buffer (applies when the plugin is next activated).
    #[id = "capture_seconds"]
    pub capture_seconds: IntParam,
}

impl Default for RecutParams {
    fn default() -> Self {
        Self {
            editor: Arc::new(RwLock::new(EditorPrefs::default())),
            target_seconds: FloatParam::new(
                "Target length",
                TARGET_SECONDS_DEFAULT,
                FloatRange::Skewed {
                    min: TARGET_SECONDS_MIN,
                    max: TARGET_SECONDS_MAX,
                    factor: FloatRange::skew_factor(-1.0),
                },
            )
            .with_unit(" s")
            .with_step_size(1.0),
            granularity: EnumParam::new("Granularity", Granularity::Bar),
            audition: EnumParam::new("Audition", Audition::Original),
            capture: BoolParam::new("Capture", false),
            capture_seconds: IntParam::new(
                "Capture length",
                crate::capture::CAPTURE_SECONDS_DEFAULT,
                IntRange::Linear {
                    min: crate::capture::CAPTURE_SECONDS_MIN,
                    max: crate::capture::CAPTURE_SECONDS_MAX,
                },
            )
            .with_unit(" s"),
            session: Arc::new(RwLock::new(Session::default())),
        }
    }
}

/// One candidate as persisted: its plan as actions, so it is rebuilt without re-decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCandidate {
    pub id: String,
    pub temperature: f64,
    pub granularity: recut_engine::edit::Granularity,
    pub actions: Vec<recut_engine::edit::Action>,
}

/// Everything about the current song that is saved with the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// The song file (a capture is written to a WAV first, so this is always a file).
    pub song_path: Option<PathBuf>,
    /// blake3 of the song file, hex.
    pub song_hash: Option<String>,
    /// Host position (samples) of the song's first frame (where the capture started).
    pub host_offset: i64,
    /// Grid corrections.
    pub corrections: recut_engine::Corrections,
    /// The candidates shown.
    pub candidates: Vec<StoredCandidate>,
    /// What made the candidates: the policy's version, provider and where the model and
    /// ONNX Runtime came from, or `"baseline policy: <why>"` (the status line's note).
    pub policy: String,
    /// Candidate indices picked as A and B.
    pub pick_a: usize,
    pub pick_b: usize,
    /// Keep the first / last phrase.
    pub keep_intro: bool,
    pub keep_ending: bool,
    /// Number of candidates per "New candidates".
    pub n_candidates: usize,
    /// Seed of the next candidate set.
    pub seed: u64,
    /// Feedback store folder.
    pub store_dir: PathBuf,
    /// Rater name written with every rating.
    pub rater: String,
    /// Export folder (`None`: next to the song).
    pub export_dir: Option<PathBuf>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            song_path: None,
            song_hash: None,
            host_offset: 0,
            corrections: Default::default(),
            candidates: Vec::new(),
            policy: String::new(),
            pick_a: 0,
            pick_b: 1,
            keep_intro: true,
            keep_ending: true,
            n_candidates: 5,
            seed: 0,
            store_dir: default_store_dir(),
            rater: std::env::var("USER").unwrap_or_default(),
            export_dir: None,
        }
    }
}

/// `$XDG_DATA_HOME/recut/<what>` or `~/.local/share/recut/<what>`.
pub fn data_dir(what: &str) -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("recut").join(what)
}

/// Default feedback store folder: `~/.local/share/recut/feedback`.
pub fn default_store_dir() -> PathBuf {
    data_dir("feedback")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let params = RecutParams::default();
        assert_eq!(params.target_seconds.value(), TARGET_SECONDS_DEFAULT);
        assert_eq!(
            params.target_seconds.default_plain_value(),
            TARGET_SECONDS_DEFAULT
        );
        assert_eq!(params.granularity.value(), Granularity::Bar);
        assert_eq!(*params.editor.read().unwrap(), EditorPrefs::default());
        assert_eq!(params.audition.value(), Audition::Original);
        assert!(!params.capture.value());
        assert_eq!(params.capture_seconds.value(), 300);
        assert!(
            params
                .session
                .read()
                .unwrap()
                .store_dir
                .ends_with("recut/feedback")
        );
    }

    #[test]
    fn session_persists() {
        let params = RecutParams::default();
        {
            let mut s = params.session.write().unwrap();
            s.song_path = Some(PathBuf::from("/music/song.flac"));
            s.corrections.tempo = recut_engine::analysis::TempoCorrection::Half;
            s.corrections.downbeat_shift = -1;
            s.candidates.push(StoredCandidate {
                id: "temp_0.1".into(),
                temperature: 0.1,
                granularity: recut_engine::edit::Granularity::Bar,
                actions: vec![
                    recut_engine::edit::Action::Keep,
                    recut_engine::edit::Action::Cut,
                ],
            });
            s.rater = "ann".into();
        }
        let saved = params.serialize_fields();
        let restored = RecutParams::default();
        restored.deserialize_fields(&saved);
        assert_eq!(
            *restored.session.read().unwrap(),
            *params.session.read().unwrap()
        );
    }

    #[test]
    fn ids_are_stable() {
        let params = RecutParams::default();
        let map = params.param_map();
        let ids: Vec<&str> = map.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, PARAM_IDS);
        let names: Vec<String> = map
            .iter()
            .map(|(_, ptr, _)| unsafe { ptr.name() }.to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "Target length",
                "Granularity",
                "Audition",
                "Capture",
                "Capture length"
            ]
        );
    }

    #[test]
    fn target_range_is_clamped() {
        let params = RecutParams::default();
        assert_eq!(params.target_seconds.preview_plain(0.0), TARGET_SECONDS_MIN);
        assert_eq!(params.target_seconds.preview_plain(1.0), TARGET_SECONDS_MAX);
    }

    #[test]
    fn editor_state_persists() {
        let params = RecutParams::default();
        *params.editor.write().unwrap() = EditorPrefs {
            width: 800,
            height: 600,
            zoom: 1.5,
        };
        let saved = params.serialize_fields();
        assert!(
            saved.contains_key("editor"),
            "persist key missing: {saved:?}"
        );

        let restored = RecutParams::default();
        restored.deserialize_fields(&saved);
        assert_eq!(
            *restored.editor.read().unwrap(),
            EditorPrefs {
                width: 800,
                height: 600,
                zoom: 1.5
            }
        );
    }
}
