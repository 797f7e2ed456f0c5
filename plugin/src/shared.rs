//! What the audio thread, the worker and the editor share. The audio thread touches only
//! the atomics; the mutexes are for the worker and the GUI (never held across slow work).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;

use crate::status::Status;
use crate::worker::{Command, View};

/// No seek requested.
pub const NO_SEEK: u64 = u64::MAX;

#[derive(Debug)]
pub struct Shared {
    pub status: Status,
    /// Commands to the worker.
    pub commands: Sender<Command>,
    /// The song as the editor draws it (worker writes, GUI reads).
    pub view: Mutex<Arc<View>>,
    /// Candidate indices (0-based) picked as A and B.
    pub pick_a: AtomicUsize,
    pub pick_b: AtomicUsize,
    /// The editor's play button (the audio thread follows it when the host is stopped).
    pub want_play: AtomicBool,
    /// Seek request in output frames of the current source, or [`NO_SEEK`].
    pub seek: AtomicU64,
    /// Loop region in output frames (used when `loop_on`).
    pub loop_on: AtomicBool,
    pub loop_start: AtomicU64,
    pub loop_end: AtomicU64,
    /// Host position (samples) of the song's first frame, for following the transport.
    pub host_offset: AtomicI64,
    /// Reported by the audio thread: position (frames), length of the current source
    /// (frames), whether it plays, frames captured so far, capture capacity (frames).
    pub position: AtomicU64,
    pub source_frames: AtomicU64,
    pub playing: AtomicBool,
    pub capturing: AtomicBool,
    pub captured: AtomicU64,
    pub capture_capacity: AtomicU64,
    /// Set by the audio thread when the capture buffer filled up.
    pub capture_full: AtomicBool,
    /// A take was made and Capture is still on (turn it off and on for a new take).
    pub capture_taken: AtomicBool,
}

impl Shared {
    pub fn new(commands: Sender<Command>) -> Shared {
        Shared {
            status: Status::default(),
            commands,
            view: Mutex::new(Arc::new(View::default())),
            pick_a: AtomicUsize::new(0),
            pick_b: AtomicUsize::new(1),
            want_play: AtomicBool::new(false),
            seek: AtomicU64::new(NO_SEEK),
            loop_on: AtomicBool::new(false),
            loop_start: AtomicU64::new(0),
            loop_end: AtomicU64::new(0),
            host_offset: AtomicI64::new(0),
            position: AtomicU64::new(0),
            source_frames: AtomicU64::new(0),
            playing: AtomicBool::new(false),
            capturing: AtomicBool::new(false),
            captured: AtomicU64::new(0),
            capture_capacity: AtomicU64::new(0),
            capture_full: AtomicBool::new(false),
            capture_taken: AtomicBool::new(false),
        }
    }

    /// Sends a command to the worker; a stopped worker is reported in the status line.
    pub fn send(&self, cmd: Command) {
        if self.commands.send(cmd).is_err() {
            self.status
                .set_message("the background worker has stopped; reload the plugin");
        }
    }

    /// The current view (cheap: an `Arc` clone).
    pub fn view(&self) -> Arc<View> {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_view(&self, view: View) {
        *self.view.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(view);
    }

    pub fn load(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
}
