//! Recut's parameters and persisted state. The `#[id]`s and `#[persist]` keys are stored in
//! hosts' projects and presets: never rename them.

use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// Every parameter id, in declaration order (what hosts store).
pub const PARAM_IDS: [&str; 2] = ["target_seconds", "granularity"];

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
            width: 480,
            height: 260,
            zoom: 1.0,
        }
    }
}

#[derive(Params)]
pub struct RecutParams {
    /// Editor size and zoom; read and written on the GUI thread only.
    #[persist = "editor"]
    pub editor: Arc<RwLock<EditorPrefs>>,

    /// How long the edited song should be.
    #[id = "target_seconds"]
    pub target_seconds: FloatParam,

    /// Beat, bar or phrase edits.
    #[id = "granularity"]
    pub granularity: EnumParam<Granularity>,
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
        }
    }
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
        assert_eq!(names, ["Target length", "Granularity"]);
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
