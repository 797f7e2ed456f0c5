//! What the editor's status line says. Written from `activate()` and background tasks,
//! read by the GUI; atomics only, so no thread ever waits on another.

use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default)]
pub struct Status {
    /// Host sample rate in Hz; 0 until the plugin is activated.
    sample_rate: AtomicU32,
}

impl Status {
    pub fn set_sample_rate(&self, hz: f32) {
        self.sample_rate.store(hz.round() as u32, Ordering::Relaxed);
    }

    pub fn sample_rate(&self) -> Option<u32> {
        match self.sample_rate.load(Ordering::Relaxed) {
            0 => None,
            hz => Some(hz),
        }
    }

    /// The one-line summary shown at the bottom of the editor.
    pub fn line(&self) -> String {
        match self.sample_rate() {
            None => "Not active yet: add Recut to a track and press play".to_owned(),
            Some(hz) => format!("Ready at {hz} Hz: play the song through to capture it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_follows_activation() {
        let status = Status::default();
        assert!(status.line().starts_with("Not active"));
        status.set_sample_rate(48_000.0);
        assert_eq!(status.sample_rate(), Some(48_000));
        assert!(status.line().contains("48000 Hz"));
    }
}
