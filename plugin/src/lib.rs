//! Recut inside the DAW: capture a song, audition the proposed edits A/B against the
//! original, rate them, and let Recut learn the rater's taste.
//!
//! At this stage the plugin is a stereo passthrough with Recut's parameters, persisted
//! editor state and an egui editor; analysis and audition are background tasks to come.

pub mod editor;
pub mod params;
pub mod status;

use nice_plug::prelude::*;
use params::RecutParams;
use status::Status;
use std::sync::Arc;

/// The plugin instance. Everything the audio thread touches is allocated before `process()`.
pub struct Recut {
    params: Arc<RecutParams>,
    status: Arc<Status>,
}

impl Default for Recut {
    fn default() -> Self {
        Self {
            params: Arc::new(RecutParams::default()),
            status: Arc::new(Status::default()),
        }
    }
}

impl Recut {
    /// The parameters, as the host and the editor see them.
    pub fn recut_params(&self) -> &Arc<RecutParams> {
        &self.params
    }

    /// What the editor's status line shows.
    pub fn status(&self) -> &Arc<Status> {
        &self.status
    }
}

impl Plugin for Recut {
    const NAME: &'static str = "Recut";
    const VENDOR: &'static str = "Recut";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "recut@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    // Stereo first (the default for hosts that do not negotiate), then mono.
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type Editor = editor::RecutEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.status.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.status.set_sample_rate(buffer_config.sample_rate);
        true
    }

    /// Passthrough: the host already copied input to output. No allocation, no locks.
    fn process(
        &mut self,
        _buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        ProcessStatus::Normal
    }
}

impl ClapPlugin for Recut {
    const CLAP_ID: &'static str = "dev.recut.recut";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Edits songs to length on beats, bars and phrases, and learns your taste");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(Self::URL);
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Utility,
    ];
}

impl Vst3Plugin for Recut {
    /// Never change: hosts identify saved projects' plugin instances by it.
    const VST3_CLASS_ID: [u8; 16] = *b"RecutEditsSongs1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}

nice_export_clap!(Recut);
nice_export_vst3!(Recut);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_ids_are_stable() {
        assert_eq!(Recut::CLAP_ID, "dev.recut.recut");
        assert_eq!(&Recut::VST3_CLASS_ID, b"RecutEditsSongs1");
        assert_eq!(Recut::NAME, "Recut");
        let layout = &Recut::AUDIO_IO_LAYOUTS[0];
        assert_eq!(layout.main_input_channels, NonZeroU32::new(2));
        assert_eq!(layout.main_output_channels, NonZeroU32::new(2));
    }

    #[test]
    fn plugin_exposes_its_params() {
        let plugin = Recut::default();
        let ids: Vec<String> = plugin
            .params()
            .param_map()
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        assert_eq!(ids, params::PARAM_IDS);
    }
}
