//! What the editor's status line says. The sample rate is an atomic (set in `activate()`);
//! the message is written by the worker and the editor only, never by the audio thread.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default)]
pub struct Status {
    /// Host sample rate in Hz; 0 until the plugin is activated.
    sample_rate: AtomicU32,
    /// The latest message from the worker or the editor (errors included).
    message: Mutex<String>,
    /// Which policy makes the candidates (`"baseline policy: <reason>"` or the model).
    policy: Mutex<String>,
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

    /// Replaces the message.
    pub fn set_message(&self, msg: impl Into<String>) {
        *self.message.lock().unwrap_or_else(|e| e.into_inner()) = msg.into();
    }

    pub fn message(&self) -> String {
        self.message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_policy(&self, note: impl Into<String>) {
        *self.policy.lock().unwrap_or_else(|e| e.into_inner()) = note.into();
    }

    pub fn policy(&self) -> String {
        self.policy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The one-line summary shown at the bottom of the editor.
    pub fn line(&self) -> String {
        let msg = self.message();
        if !msg.is_empty() {
            return msg;
        }
        match self.sample_rate() {
            None => "Not active yet: add Recut to a track and press play".to_owned(),
            Some(hz) => format!(
                "Ready at {hz} Hz: turn Capture on and play the song through, or load a file"
            ),
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
        status.set_message("error: x");
        assert_eq!(status.line(), "error: x");
    }
}
