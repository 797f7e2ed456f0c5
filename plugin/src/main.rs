//! Recut as a standalone application (no DAW): nice-plug's standalone wrapper runs the
//! same plugin and editor on the system's audio (JACK, else ALSA through cpal).
//! `recut-standalone --help` lists the audio and MIDI options.

use nice_plug::prelude::*;
use recut_plugin::Recut;

fn main() -> std::process::ExitCode {
    if nice_export_standalone::<Recut>() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
