//! Recut inside the DAW: capture a song (or load a file), audition the proposed edits A/B
//! against the original, rate them, and let Recut learn the rater's taste.
//!
//! Threads: the audio thread runs [`Realtime::process_block`] (capture, playback; no
//! allocation, no blocking, no I/O); one worker thread per instance ([`worker`]) decodes,
//! analyses, makes candidates, exports and stores ratings; the editor ([`editor`]) sends
//! the worker commands. Songs reach the audio thread as `Arc<Playable>` on an rtrb ring,
//! captures go back the same way, and the worker frees what the audio thread let go of.

pub mod capture;
pub mod editor;
pub mod params;
pub mod playback;
pub mod shared;
pub mod shipped;
pub mod status;
pub mod worker;

use capture::CaptureBuffer;
use nice_plug::prelude::*;
use params::{Audition, RecutParams};
use playback::Player;
use shared::{NO_SEEK, Shared};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use worker::{Captured, Command, ToAudio, Worker};

/// Capacity of the rings between the audio thread and the worker.
const RING: usize = 16;

/// What the audio thread needs from the host for one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockInfo {
    /// The host's transport plays.
    pub host_playing: bool,
    /// The host's position in samples, when it reports one.
    pub host_pos: Option<i64>,
    /// The `capture` parameter.
    pub capture: bool,
    /// The `audition` parameter.
    pub audition: Audition,
}

/// Everything the audio thread owns: the player, the capture buffer and its ring ends.
pub struct Realtime {
    pub player: Player,
    capture: Option<Box<CaptureBuffer>>,
    capturing: bool,
    /// A new take may start (Capture was off since the last one).
    armed: bool,
    /// A finished take waits to be sent to the worker.
    handoff: bool,
    to_worker: rtrb::Producer<Captured>,
    from_worker: rtrb::Consumer<ToAudio>,
    /// The host position last reported (samples) and the frames processed since that
    /// report, so the sub-blocks of one host buffer follow on from each other.
    last_report: Option<i64>,
    since_report: usize,
}

impl Realtime {
    pub fn new(
        sample_rate: f32,
        to_worker: rtrb::Producer<Captured>,
        from_worker: rtrb::Consumer<ToAudio>,
    ) -> Self {
        Realtime {
            player: Player::new(sample_rate),
            capture: None,
            capturing: false,
            armed: true,
            handoff: false,
            to_worker,
            from_worker,
            last_report: None,
            since_report: 0,
        }
    }

    /// The host position of this block's first frame. With sample-accurate automation the
    /// wrapper splits a host buffer at parameter changes, and some hosts' transport (CLAP
    /// without a tempo) then reports the buffer's start for every piece: a report equal to
    /// the previous one while playing means "the same buffer, `since_report` frames on".
    fn block_position(&mut self, info: &BlockInfo) -> Option<i64> {
        let reported = info.host_pos.filter(|_| info.host_playing);
        if reported.is_some() && self.last_report == reported {
            return reported.map(|p| p + self.since_report as i64);
        }
        // Stopped, or a new host buffer: start counting from this report.
        self.last_report = reported;
        self.since_report = 0;
        info.host_pos
    }

    /// Installs a capture buffer (outside `process()`); one still with the worker is discarded there.
    pub fn set_capture_buffer(&mut self, buf: Box<CaptureBuffer>, shared: &Shared) {
        shared
            .capture_capacity
            .store(buf.capacity() as u64, Relaxed);
        if let Some(old) = self.capture.replace(buf) {
            drop(old);
        }
    }

    /// One block, in place in `io` (input in, output out). Never allocates or blocks.
    /// A block may be a piece of a host buffer split at a parameter change (sample-accurate
    /// A/B switching): `info.host_pos` is corrected by `Realtime::block_position`.
    pub fn process_block(&mut self, io: &mut [&mut [f32]], info: BlockInfo, shared: &Shared) {
        let info = BlockInfo {
            host_pos: self.block_position(&info),
            ..info
        };
        self.since_report += io.iter().map(|c| c.len()).min().unwrap_or(0);
        while let Ok(msg) = self.from_worker.pop() {
            match msg {
                ToAudio::Play(p) => drop(self.player.set_playable(p)), // never the last reference
                ToAudio::Buffer(b) if self.capture.is_none() => self.capture = Some(b),
                ToAudio::Buffer(b) => self.discard(b),
            }
        }
        // A take ends when the transport stops, Capture goes off or the buffer is full; a
        // new take needs Capture off and on again (so playing on does not record over it).
        if !info.capture {
            self.armed = true;
        }
        let room = self.capture.as_ref().is_some_and(|b| !b.is_full());
        let capturing = info.capture && self.armed && info.host_playing && room && !self.handoff;
        if capturing && let Some(buf) = self.capture.as_mut() {
            if buf.frames == 0 {
                buf.host_start = info.host_pos;
            }
            buf.push(io);
            shared.captured.store(buf.frames as u64, Relaxed);
            shared.capture_full.store(buf.is_full(), Relaxed);
        }
        if self.capturing && !capturing {
            self.handoff = true;
            self.armed = false;
        }
        if self.handoff {
            self.hand_off();
        }
        self.capturing = capturing;
        shared.capturing.store(capturing, Relaxed);
        shared
            .capture_taken
            .store(info.capture && !self.armed, Relaxed);
        if self.capturing || self.player.playable().is_none() {
            return; // passthrough
        }
        let pick = |a: &std::sync::atomic::AtomicUsize| 1 + a.load(Relaxed);
        self.player.select(match info.audition {
            Audition::Original => 0,
            Audition::A => pick(&shared.pick_a),
            Audition::B => pick(&shared.pick_b),
        });
        if info.host_playing {
            self.player.set_loop(None);
            let want = info.host_pos.map(|p| p - shared.host_offset.load(Relaxed));
            match want {
                Some(w) if w >= 0 => {
                    self.player.seek(w as usize);
                    self.player.set_playing(true);
                }
                _ => self.player.set_playing(false),
            }
        } else {
            let region = (
                shared.loop_start.load(Relaxed) as usize,
                shared.loop_end.load(Relaxed) as usize,
            );
            self.player
                .set_loop(Some(region).filter(|_| shared.loop_on.load(Relaxed)));
            let seek = shared.seek.swap(NO_SEEK, Relaxed);
            if seek != NO_SEEK {
                self.player.seek(seek as usize);
            }
            self.player.set_playing(shared.want_play.load(Relaxed));
        }
        self.player.render(io);
        if !info.host_playing && self.player.is_playing() && self.player.at_end() {
            shared.want_play.store(false, Relaxed);
        }
        shared
            .position
            .store(self.player.position() as u64, Relaxed);
        shared
            .source_frames
            .store(self.player.source_frames() as u64, Relaxed);
        shared.playing.store(self.player.is_playing(), Relaxed);
    }

    /// Sends the finished take to the worker (retried next block if the ring is full).
    fn hand_off(&mut self) {
        let Some(buf) = self.capture.take() else {
            self.handoff = false;
            return;
        };
        if buf.frames == 0 {
            self.capture = Some(buf);
            self.handoff = false;
            return;
        }
        match self.to_worker.push(Captured {
            buf,
            discard: false,
        }) {
            Ok(()) => self.handoff = false,
            Err(rtrb::PushError::Full(c)) => self.capture = Some(c.buf),
        }
    }

    /// Sends a stale buffer to the worker to be freed there (kept if the ring is full).
    fn discard(&mut self, buf: Box<CaptureBuffer>) {
        if let Err(rtrb::PushError::Full(c)) = self.to_worker.push(Captured { buf, discard: true })
        {
            std::mem::forget(c); // never happens with one buffer in flight; never free here
        }
    }
}

/// The plugin instance. Everything the audio thread touches is allocated before `process()`.
pub struct Recut {
    params: Arc<RecutParams>,
    shared: Arc<Shared>,
    rt: Realtime,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Default for Recut {
    fn default() -> Self {
        let params = Arc::new(RecutParams::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared::new(tx));
        let (cap_tx, cap_rx) = rtrb::RingBuffer::new(RING);
        let (play_tx, play_rx) = rtrb::RingBuffer::new(RING);
        let worker = start_worker(
            Worker::new(shared.clone(), params.clone(), rx, cap_rx, play_tx),
            std::thread::Builder::new(),
            &shared,
        );
        Self {
            params,
            shared,
            rt: Realtime::new(44_100.0, cap_tx, play_rx),
            worker,
        }
    }
}

/// Starts the worker thread. A failure (the system is out of threads or memory) becomes a
/// message in the editor instead of a panic in the host: the worker, and with it the
/// command receiver, is gone, so every later command reports the stopped worker too.
fn start_worker(
    worker: Worker,
    builder: std::thread::Builder,
    shared: &Shared,
) -> Option<std::thread::JoinHandle<()>> {
    match worker.spawn(builder) {
        Ok(handle) => Some(handle),
        Err(e) => {
            shared.status.set_message(format!(
                "could not start the background worker ({e}); reload the plugin"
            ));
            None
        }
    }
}

impl Drop for Recut {
    fn drop(&mut self) {
        let _ = self.shared.commands.send(Command::Quit);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Recut {
    /// The parameters, as the host and the editor see them.
    pub fn recut_params(&self) -> &Arc<RecutParams> {
        &self.params
    }

    /// State shared with the worker and the editor (status line included).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
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

    /// The wrapper splits blocks at parameter changes, so an A/B switch starts its
    /// crossfade on the exact sample the host scheduled it.
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = editor::RecutEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    /// Allocates the capture buffer at the host's rate and asks the worker to reload the
    /// project's song.
    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let rate = buffer_config.sample_rate;
        self.shared.status.set_sample_rate(rate);
        self.rt.player.set_sample_rate(rate);
        let seconds = self.params.capture_seconds.value().max(1) as u32;
        let fits = self.rt.capture.as_ref().is_some_and(|b| {
            b.sample_rate == rate.round() as u32
                && b.capacity() == b.sample_rate as usize * seconds as usize
        });
        if !fits {
            let buf = CaptureBuffer::new(rate.round() as u32, seconds);
            self.rt.set_capture_buffer(buf, &self.shared);
        }
        let session = self
            .params
            .session
            .read()
            .map(|s| (s.pick_a, s.pick_b, s.host_offset));
        if let Ok((a, b, off)) = session {
            self.shared.pick_a.store(a, Relaxed);
            self.shared.pick_b.store(b, Relaxed);
            self.shared.host_offset.store(off, Relaxed);
        }
        self.shared.send(Command::Restore);
        true
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let t = context.transport();
        let info = BlockInfo {
            host_playing: t.playing,
            host_pos: t.pos_samples(),
            capture: self.params.capture.value(),
            audition: self.params.audition.value(),
        };
        self.rt.process_block(buffer.as_slice(), info, &self.shared);
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

    /// A host buffer split at a parameter change reports its start for every piece (CLAP
    /// without a tempo): the pieces follow on; a stop, a restart or a new buffer resets.
    #[test]
    fn split_blocks_continue_the_host_position() {
        let (cap_tx, _cap_rx) = rtrb::RingBuffer::new(RING);
        let (_play_tx, play_rx) = rtrb::RingBuffer::new(RING);
        let mut rt = Realtime::new(48_000.0, cap_tx, play_rx);
        let info = |playing, pos| BlockInfo {
            host_playing: playing,
            host_pos: Some(pos),
            capture: false,
            audition: Audition::Original,
        };
        let mut step = |i: BlockInfo, frames: usize| {
            let p = rt.block_position(&i);
            rt.since_report += frames;
            p
        };
        assert_eq!(step(info(true, 1000), 100), Some(1000));
        assert_eq!(step(info(true, 1000), 412), Some(1100));
        assert_eq!(step(info(true, 1512), 512), Some(1512));
        assert_eq!(step(info(false, 2024), 512), Some(2024));
        // Stopped blocks do not count: play from 2024 again starts at 2024.
        assert_eq!(step(info(true, 2024), 512), Some(2024));
        assert_eq!(step(info(true, 0), 512), Some(0));
    }

    /// A worker thread the system cannot start (here: a stack larger than the address
    /// space) leaves a message for the editor, and later commands say the worker stopped,
    /// instead of a panic inside the host.
    #[test]
    fn a_worker_that_cannot_start_is_reported() {
        const IMPOSSIBLE_STACK_BYTES: usize = 1 << 60;
        let params = Arc::new(RecutParams::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared::new(tx));
        let (_cap_tx, cap_rx) = rtrb::RingBuffer::new(RING);
        let (play_tx, _play_rx) = rtrb::RingBuffer::new(RING);
        let worker = Worker::new(shared.clone(), params, rx, cap_rx, play_tx);
        let builder = std::thread::Builder::new().stack_size(IMPOSSIBLE_STACK_BYTES);
        assert!(start_worker(worker, builder, &shared).is_none());
        let msg = shared.status.message();
        assert!(
            msg.contains("could not start the background worker"),
            "{msg}"
        );
        shared.send(Command::Quit);
        let msg = shared.status.message();
        assert!(msg.contains("background worker has stopped"), "{msg}");
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
