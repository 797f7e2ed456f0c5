//! The background worker: one thread per plugin instance that does everything slow —
//! decoding, analysis, candidates, export, feedback — and hands finished songs to the
//! audio thread through a lock-free ring.
//!
//! Inputs: [`Command`]s from the editor (a crossbeam channel) and finished captures from
//! the audio thread (an rtrb ring, polled). Outputs: [`ToAudio`] on an rtrb ring, the
//! [`View`] and status line in [`Shared`], and the persisted [`Session`].
//!
//! Memory: every `Arc<Playable>` sent to the audio thread is also kept in `sent`; once the
//! worker's copy is the only one left (the audio thread let go), the worker drops it, so
//! the audio thread never frees a song.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use recut_engine::analysis::{Analysis, Analyzer};
use recut_engine::audio::{WavFormat, decode_file, write_wav};
use recut_engine::candidates::{
    BaselinePolicy, CandidateOptions, Policy, Target, decode_candidates,
};
use recut_engine::edit::{Action, Constraints, Crossfade, EditError, Plan, render};
use recut_engine::feedback::{EditRef, Preference, Rating, Side, Store, TieKind};
use recut_engine::{Audio, Corrections, PolicyModel};

use crate::capture::CaptureBuffer;
use crate::params::{RecutParams, Session, StoredCandidate, data_dir};
use crate::playback::Playable;
use crate::shared::Shared;
use crate::shipped;

/// Temperatures of a candidate set, the first `n` used.
pub const TEMPERATURES: [f64; 8] = [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5];
/// Columns of the waveform overview.
pub const OVERVIEW_COLUMNS: usize = 1200;

/// From the editor to the worker.
#[derive(Debug)]
pub enum Command {
    /// Decode and analyse a file, then make candidates.
    LoadFile(PathBuf),
    /// Reload the persisted session's song (after the host restored the project).
    Restore,
    /// Re-run the back half of the analysis with these corrections, then new candidates.
    Correct(Corrections),
    /// A new set of candidates with the current settings and the next seed.
    NewCandidates,
    /// Write source `source` (0 original, 1.. candidates) as WAV.
    Export { source: usize },
    /// Append a rating to the feedback store.
    Rate(RatingInput),
    /// Leave the thread.
    Quit,
}

/// What the rating panel collected.
#[derive(Debug, Clone)]
pub struct RatingInput {
    /// Candidate indices of edit A and edit B.
    pub a: usize,
    pub b: usize,
    pub preference: Preference,
    pub tie_kind: Option<TieKind>,
    /// 1 slight, 2 moderate, 3 strong.
    pub strength: u8,
    pub notes: String,
    /// Which edit was shown on the left.
    pub left: Side,
}

/// From the worker to the audio thread.
#[derive(Debug)]
pub enum ToAudio {
    /// A new song or a new candidate set.
    Play(Arc<Playable>),
    /// The capture buffer, emptied and ready again.
    Buffer(Box<CaptureBuffer>),
}

/// A captured take from the audio thread (or, with `discard`, a stale buffer to free).
#[derive(Debug)]
pub struct Captured {
    pub buf: Box<CaptureBuffer>,
    pub discard: bool,
}

/// One candidate as the editor draws it.
#[derive(Debug, Clone)]
pub struct CandidateView {
    pub id: String,
    pub temperature: f64,
    pub duration_s: f64,
    pub splices: usize,
    pub actions: Vec<Action>,
    pub dense: Option<f64>,
}

/// The song as the editor draws it.
#[derive(Debug, Clone, Default)]
pub struct SongView {
    pub name: String,
    pub path: Option<PathBuf>,
    pub duration_s: f64,
    pub sample_rate: u32,
    pub tempo_bpm: f64,
    pub beats_per_bar: u32,
    /// Min and max per column of the mono mix.
    pub peaks: Vec<(f32, f32)>,
    pub beats: Vec<f64>,
    pub downbeats: Vec<usize>,
    pub phrases: Vec<std::ops::Range<usize>>,
    pub corrections: Corrections,
    pub candidates: Vec<CandidateView>,
    pub policy: String,
}

/// What the editor shows; replaced as a whole by the worker.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub song: Option<SongView>,
    /// Ratings appended in this session.
    pub ratings: usize,
    /// Seconds from the end of a capture (or a load) to the first candidates.
    pub last_ready_s: Option<f64>,
}

struct Song {
    path: Option<PathBuf>,
    hash: String,
    audio: Arc<Audio>,
    analyzer: Analyzer,
    analysis: Analysis,
    candidates: Candidates,
    policy_version: String,
}

/// The worker thread's state.
pub struct Worker {
    shared: Arc<Shared>,
    params: Arc<RecutParams>,
    commands: Receiver<Command>,
    captures: rtrb::Consumer<Captured>,
    to_audio: rtrb::Producer<ToAudio>,
    sent: Vec<Arc<Playable>>,
    generation: u64,
    song: Option<Song>,
    /// The shipped policy and its status note, or why it did not load (tried once).
    policy: Option<Result<(PolicyModel, String), String>>,
    ratings: usize,
    last_ready_s: Option<f64>,
    /// Why the candidates are not at the target length (a target the song cannot reach).
    length_note: Option<String>,
}

/// The candidates of a song: what is persisted, the plan, and its dense reward.
type Candidates = Vec<(StoredCandidate, Plan, Option<f64>)>;

/// `Err(message)` for the status line.
type Res<T> = Result<T, String>;

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        params: Arc<RecutParams>,
        commands: Receiver<Command>,
        captures: rtrb::Consumer<Captured>,
        to_audio: rtrb::Producer<ToAudio>,
    ) -> Worker {
        Worker {
            shared,
            params,
            commands,
            captures,
            to_audio,
            sent: Vec::new(),
            generation: 0,
            song: None,
            policy: None,
            ratings: 0,
            last_ready_s: None,
            length_note: None,
        }
    }

    /// Starts the thread from `builder` (named here). The error (the system is out of
    /// threads or memory) is returned rather than panicking, since a panic here would take
    /// the host down with the plugin.
    pub fn spawn(
        self,
        builder: std::thread::Builder,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        builder
            .name("recut-worker".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        loop {
            match self.commands.recv_timeout(Duration::from_millis(25)) {
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(cmd) => self.handle(cmd),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.poll();
        }
    }

    /// Takes finished captures and frees songs the audio thread let go of.
    pub fn poll(&mut self) {
        while let Ok(Captured { buf, discard }) = self.captures.pop() {
            if !discard {
                self.on_capture(buf);
            }
        }
        self.sent.retain(|p| Arc::strong_count(p) > 1);
    }

    /// Runs one command; errors go to the status line.
    pub fn handle(&mut self, cmd: Command) {
        let started = Instant::now();
        let result = match cmd {
            Command::LoadFile(path) => self
                .load_file(&path, true)
                .map(|_| self.ready_message(started)),
            Command::Restore => match self.restore() {
                Ok(true) => Ok(self.ready_message(started)),
                Ok(false) => return,
                Err(e) => Err(e),
            },
            Command::Correct(c) => self.correct(c).map(|_| self.ready_message(started)),
            Command::NewCandidates => self.new_candidates().map(|_| self.ready_message(started)),
            Command::Export { source } => self
                .export(source)
                .map(|p| format!("exported {}", p.display())),
            Command::Rate(r) => self.rate(r),
            Command::Quit => Ok(String::new()),
        };
        match result {
            Ok(msg) => self.shared.status.set_message(msg),
            Err(e) => self.shared.status.set_message(format!("error: {e}")),
        }
        self.publish_view();
    }

    fn ready_message(&mut self, started: Instant) -> String {
        let s = started.elapsed().as_secs_f64();
        self.last_ready_s = Some(s);
        let n = self.song.as_ref().map_or(0, |s| s.candidates.len());
        let note = self
            .length_note
            .as_deref()
            .map(|n| format!("; {n}"))
            .unwrap_or_default();
        format!(
            "{n} candidates ready in {s:.2} s ({}){note}",
            self.shared.status.policy()
        )
    }

    fn host_rate(&self) -> Option<u32> {
        self.shared.status.sample_rate()
    }

    fn session(&self) -> Session {
        self.params
            .session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update_session(&self, f: impl FnOnce(&mut Session)) {
        f(&mut self
            .params
            .session
            .write()
            .unwrap_or_else(|e| e.into_inner()));
    }

    fn on_capture(&mut self, mut buf: Box<CaptureBuffer>) {
        let started = Instant::now();
        let audio = buf.to_audio();
        let host_start = buf.host_start.unwrap_or(0);
        buf.clear();
        if let Err(ToAudio::Buffer(b)) =
            self.to_audio
                .push(ToAudio::Buffer(buf))
                .map_err(|e| match e {
                    rtrb::PushError::Full(x) => x,
                })
        {
            // The ring is never full in practice; keep the memory rather than lose it.
            std::mem::forget(b);
        }
        let result = self
            .take_capture(audio, host_start)
            .map(|_| self.ready_message(started));
        match result {
            Ok(msg) => self.shared.status.set_message(msg),
            Err(e) => self.shared.status.set_message(format!("error: {e}")),
        }
        self.publish_view();
    }

    /// A capture: written to a float WAV under `~/.local/share/recut/captures` (so the
    /// project can reload it), then analysed like a file.
    fn take_capture(&mut self, audio: Audio, host_start: i64) -> Res<()> {
        if audio.frames() == 0 {
            return Err("nothing was captured (was the transport playing with Capture on?)".into());
        }
        let mut hasher = blake3::Hasher::new();
        for ch in &audio.channels {
            for s in ch {
                hasher.update(&s.to_le_bytes());
            }
        }
        let hash = hasher.finalize().to_hex().to_string();
        let dir = data_dir("captures");
        let path = dir.join(format!("capture-{}.wav", &hash[..12]));
        let saved = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| write_wav(&path, &audio, WavFormat::Float32).map_err(|e| e.to_string()));
        let path = match saved {
            Ok(()) => Some(path),
            Err(e) => {
                self.shared.status.set_message(format!(
                    "capture not saved ({e}); it will not reload with the project"
                ));
                None
            }
        };
        self.shared.host_offset.store(host_start, Ordering::Relaxed);
        self.update_session(|s| {
            s.song_path = path.clone();
            s.song_hash = Some(hash.clone());
            s.host_offset = host_start;
            s.corrections = Corrections::default();
            s.candidates.clear();
        });
        self.set_song(audio, path, hash, false)
    }

    fn load_file(&mut self, path: &Path, fresh: bool) -> Res<()> {
        let audio = decode_file(path).map_err(|e| e.to_string())?;
        let hash = recut_engine::analysis::cache::content_hash(path).map_err(|e| e.to_string())?;
        if fresh {
            self.shared.host_offset.store(0, Ordering::Relaxed);
            self.update_session(|s| {
                s.song_path = Some(path.to_owned());
                s.song_hash = Some(hash.clone());
                s.host_offset = 0;
                s.corrections = Corrections::default();
                s.candidates.clear();
            });
        }
        self.set_song(audio, Some(path.to_owned()), hash, !fresh)
    }

    /// Loads the session's song unless it is loaded already; true when it loaded one.
    fn restore(&mut self) -> Res<bool> {
        let s = self.session();
        let Some(path) = s.song_path else {
            return Ok(false);
        };
        if self
            .song
            .as_ref()
            .is_some_and(|song| song.path.as_deref() == Some(path.as_path()))
        {
            return Ok(false);
        }
        self.shared
            .host_offset
            .store(s.host_offset, Ordering::Relaxed);
        self.load_file(&path, false).map(|_| true)
    }

    /// Prepares `audio` (stereo at most, at the host's rate), analyses it with the
    /// session's corrections and makes candidates (or rebuilds the persisted ones).
    fn set_song(
        &mut self,
        audio: Audio,
        path: Option<PathBuf>,
        hash: String,
        reuse: bool,
    ) -> Res<()> {
        let mut audio = audio;
        audio.channels.truncate(2);
        if let Some(rate) = self.host_rate()
            && rate != audio.sample_rate
        {
            audio = resample_linear(&audio, rate);
        }
        let analyzer = Analyzer::new(&audio, hash.clone()).map_err(|e| e.to_string())?;
        let corrections = self.session().corrections;
        let analysis = analyzer.analyze(&corrections).map_err(|e| e.to_string())?;
        self.song = Some(Song {
            path,
            hash,
            audio: Arc::new(audio),
            analyzer,
            analysis,
            candidates: Vec::new(),
            policy_version: String::new(),
        });
        if reuse && self.rebuild_stored() {
            self.send_playable();
            return Ok(());
        }
        self.new_candidates_with(false)
    }

    /// Rebuilds the persisted candidates on the current analysis; false if they no longer fit.
    fn rebuild_stored(&mut self) -> bool {
        let stored = self.session().candidates;
        let Some(song) = &mut self.song else {
            return false;
        };
        if stored.is_empty() {
            return false;
        }
        let mut out = Vec::new();
        for c in stored {
            match Plan::build(
                &song.analysis,
                c.actions.clone(),
                song.audio.sample_rate,
                c.granularity,
            ) {
                Ok(plan) => out.push((c, plan, None)),
                Err(_) => return false,
            }
        }
        song.candidates = out;
        song.policy_version = "restored".into();
        let made_by = self.session().policy;
        self.shared.status.set_policy(if made_by.is_empty() {
            "candidates restored from the project".to_owned()
        } else {
            format!("candidates restored from the project (made by {made_by})")
        });
        true
    }

    fn correct(&mut self, c: Corrections) -> Res<()> {
        let song = self.song.as_mut().ok_or("load or capture a song first")?;
        song.analysis = song.analyzer.analyze(&c).map_err(|e| e.to_string())?;
        self.update_session(|s| s.corrections = c);
        self.new_candidates_with(false)
    }

    fn new_candidates(&mut self) -> Res<()> {
        self.new_candidates_with(true)
    }

    /// The policy's logits: the shipped ONNX policy when it loads (found as
    /// [`crate::shipped`] describes), else the baseline; the status says which, and why.
    fn logits(&mut self, analysis: &Analysis) -> (Vec<[f32; 3]>, String) {
        let policy = self.policy.get_or_insert_with(shipped::load_policy);
        let (logits, version, note) = match policy {
            Ok((m, note)) => match m.logits_for(analysis) {
                Ok(l) => (l, m.info().model_version.clone(), note.clone()),
                Err(e) => (
                    BaselinePolicy.logits(analysis).unwrap_or_default(),
                    "baseline".into(),
                    format!("baseline policy: {e}"),
                ),
            },
            Err(e) => (
                BaselinePolicy.logits(analysis).unwrap_or_default(),
                "baseline".into(),
                format!("baseline policy: {e}"),
            ),
        };
        self.shared.status.set_policy(note.clone());
        self.update_session(|s| s.policy = note);
        (logits, version)
    }

    fn new_candidates_with(&mut self, next_seed: bool) -> Res<()> {
        let Some(song) = self.song.take() else {
            return Err("load or capture a song first".into());
        };
        let fresh = song.candidates.is_empty();
        let result = self.make_candidates(&song, next_seed);
        let mut song = song;
        let result = result.map(|(cands, version)| {
            song.candidates = cands;
            song.policy_version = version;
        });
        self.song = Some(song);
        if let Err(e) = result {
            // A new song still reaches the audio thread (as the original) without candidates.
            if fresh {
                self.send_playable();
            }
            return Err(e);
        }
        let song = self.song.as_ref().expect("just set");
        let stored: Vec<StoredCandidate> =
            song.candidates.iter().map(|(c, _, _)| c.clone()).collect();
        self.update_session(|s| {
            s.candidates = stored;
            s.song_hash = Some(song.hash.clone());
        });
        self.send_playable();
        Ok(())
    }

    fn make_candidates(&mut self, song: &Song, next_seed: bool) -> Res<(Candidates, String)> {
        if next_seed {
            self.update_session(|s| s.seed = s.seed.wrapping_add(1));
        }
        let session = self.session();
        let (logits, version) = self.logits(&song.analysis);
        let n = session.n_candidates.clamp(2, TEMPERATURES.len());
        let target_s = f64::from(self.params.target_seconds.value());
        let granularity = self.params.granularity.value();
        let opts = |target_s: f64| {
            let mut constraints = Constraints::new(target_s);
            constraints.keep_intro = session.keep_intro;
            constraints.keep_ending = session.keep_ending;
            constraints.granularity = granularity.engine();
            CandidateOptions {
                temperatures: TEMPERATURES[..n].to_vec(),
                target: Target::Seconds(target_s),
                constraints,
                crossfade: Crossfade::default(),
                seed: session.seed,
                wav_format: WavFormat::Int24,
                write_audio: true,
            }
        };
        self.length_note = None;
        let cands = match decode_candidates(&song.analysis, &logits, &opts(target_s)) {
            Ok(c) => c,
            // Longer than looping allows (each unit plays at most twice, the kept intro and
            // ending once): the longest edits instead, and the status line says so.
            Err(recut_engine::Error::Edit(EditError::TargetTooLong { max_s, .. })) => {
                let c = decode_candidates(&song.analysis, &logits, &opts(max_s))
                    .map_err(|e| format!("no candidates: {e}"))?;
                self.length_note = Some(format!(
                    "target {} is longer than this song allows ({:.0} s song; each {} repeats \
                     at most once, intro and ending play once): edits at the longest, {}",
                    clock(target_s),
                    song.analysis.duration_s,
                    constraints_unit(granularity),
                    clock(max_s)
                ));
                c
            }
            Err(e) => return Err(format!("no candidates: {e}")),
        };
        Ok((
            cands
                .into_iter()
                .map(|c| {
                    let stored = StoredCandidate {
                        id: c.id.clone(),
                        temperature: c.temperature,
                        granularity: c.plan.granularity,
                        actions: c.plan.actions.clone(),
                    };
                    (stored, c.plan, Some(c.dense.total))
                })
                .collect(),
            version,
        ))
    }

    /// Sends the current song and candidates to the audio thread.
    fn send_playable(&mut self) {
        let Some(song) = &self.song else { return };
        self.generation += 1;
        let plans: Vec<&Plan> = song.candidates.iter().map(|(_, p, _)| p).collect();
        let playable = Arc::new(Playable::new(
            self.generation,
            song.audio.clone(),
            &plans,
            Crossfade::default(),
        ));
        self.sent.push(playable.clone());
        if self.to_audio.push(ToAudio::Play(playable)).is_err() {
            self.shared
                .status
                .set_message("the audio thread is not taking new songs (is the plugin active?)");
        }
    }

    fn export(&mut self, source: usize) -> Res<PathBuf> {
        let song = self.song.as_ref().ok_or("load or capture a song first")?;
        let (name, rendered) = if source == 0 {
            ("original".to_owned(), (*song.audio).clone())
        } else {
            let (c, plan, _) = song.candidates.get(source - 1).ok_or("no such candidate")?;
            (
                c.id.clone(),
                render(&song.audio, plan, Crossfade::default()).map_err(|e| e.to_string())?,
            )
        };
        let session = self.session();
        let stem = song
            .path
            .as_deref()
            .map_or_else(|| "capture".to_owned(), recut_engine::candidates::song_id);
        let dir = session
            .export_dir
            .clone()
            .or_else(|| {
                song.path
                    .as_deref()
                    .and_then(Path::parent)
                    .map(Path::to_owned)
            })
            .unwrap_or_else(|| data_dir("exports"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{stem}.recut-{name}.wav"));
        write_wav(&path, &rendered, WavFormat::Int24).map_err(|e| e.to_string())?;
        Ok(path)
    }

    fn rate(&mut self, r: RatingInput) -> Res<String> {
        let song = self.song.as_ref().ok_or("load or capture a song first")?;
        let edit = |i: usize| -> Res<EditRef> {
            let (c, plan, _) = song.candidates.get(i).ok_or("pick two candidates first")?;
            let mut e = EditRef::from_actions(c.actions.clone());
            e.id = Some(c.id.clone());
            e.duration_seconds = Some(plan.duration_s());
            Ok(e)
        };
        let session = self.session();
        let song_id = song.path.as_deref().map_or_else(
            || format!("capture-{}", &song.hash[..12]),
            recut_engine::candidates::song_id,
        );
        let strength = if r.preference == Preference::Tie {
            0
        } else {
            r.strength.clamp(1, 3)
        };
        let mut rating = Rating::new(song_id, edit(r.a)?, edit(r.b)?, r.preference, strength);
        rating.rater = Some(session.rater.clone()).filter(|s| !s.trim().is_empty());
        rating.notes = Some(r.notes.clone()).filter(|s| !s.trim().is_empty());
        rating.tie_kind = r.tie_kind.filter(|_| r.preference == Preference::Tie);
        rating.left = Some(r.left);
        rating.features_version = Some(song.analysis.features_version);
        rating.song_hash = Some(song.hash.clone());
        rating.policy_version = Some(song.policy_version.clone());
        let store = Store::open(&session.store_dir).map_err(|e| e.to_string())?;
        store.append(&rating).map_err(|e| e.to_string())?;
        self.ratings += 1;
        Ok(format!(
            "rating {} saved to {}",
            self.ratings,
            store.file_for(rating.rater.as_deref()).display()
        ))
    }

    fn publish_view(&mut self) {
        let song = self.song.as_ref().map(|s| {
            let a = &s.analysis;
            SongView {
                name: s
                    .path
                    .as_deref()
                    .map_or_else(|| "capture".to_owned(), recut_engine::candidates::song_id),
                path: s.path.clone(),
                duration_s: s.audio.duration_s(),
                sample_rate: s.audio.sample_rate,
                tempo_bpm: a.tempo_bpm,
                beats_per_bar: a.meter.beats_per_bar,
                peaks: overview(&s.audio, OVERVIEW_COLUMNS),
                beats: a.beats.clone(),
                downbeats: a.downbeats.clone(),
                phrases: a.phrases.clone(),
                corrections: a.corrections,
                candidates: s
                    .candidates
                    .iter()
                    .map(|(c, plan, dense)| CandidateView {
                        id: c.id.clone(),
                        temperature: c.temperature,
                        duration_s: plan.duration_s(),
                        splices: plan.splice_count(),
                        actions: c.actions.clone(),
                        dense: *dense,
                    })
                    .collect(),
                policy: self.shared.status.policy(),
            }
        });
        self.shared.set_view(View {
            song,
            ratings: self.ratings,
            last_ready_s: self.last_ready_s,
        });
    }
}

/// "1:05.0" for 65 s (for messages).
fn clock(s: f64) -> String {
    let s = s.max(0.0);
    format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
}

/// The unit an edit repeats, in the user's words.
fn constraints_unit(g: crate::params::Granularity) -> &'static str {
    match g {
        crate::params::Granularity::Beat => "beat",
        crate::params::Granularity::Bar => "bar",
        crate::params::Granularity::Phrase => "phrase",
    }
}

/// Min/max of the mono mix in `columns` columns.
pub fn overview(audio: &Audio, columns: usize) -> Vec<(f32, f32)> {
    let frames = audio.frames();
    if frames == 0 || columns == 0 {
        return Vec::new();
    }
    (0..columns)
        .map(|c| {
            let (s, e) = (
                c * frames / columns,
                ((c + 1) * frames / columns)
                    .max(c * frames / columns + 1)
                    .min(frames),
            );
            let mut lo = 0.0f32;
            let mut hi = 0.0f32;
            for i in s..e {
                let v = audio.channels.iter().map(|ch| ch[i]).sum::<f32>()
                    / audio.channels.len() as f32;
                lo = lo.min(v);
                hi = hi.max(v);
            }
            (lo, hi)
        })
        .collect()
}

/// Linear-interpolation resampling to `rate` (for files whose rate differs from the host's).
pub fn resample_linear(audio: &Audio, rate: u32) -> Audio {
    let ratio = f64::from(audio.sample_rate) / f64::from(rate);
    let n = (audio.frames() as f64 / ratio).floor() as usize;
    let channels = audio
        .channels
        .iter()
        .map(|ch| {
            (0..n)
                .map(|i| {
                    let x = i as f64 * ratio;
                    let k = x.floor() as usize;
                    let t = (x - k as f64) as f32;
                    let a = ch.get(k).copied().unwrap_or(0.0);
                    let b = ch.get(k + 1).copied().unwrap_or(a);
                    a + (b - a) * t
                })
                .collect()
        })
        .collect();
    Audio {
        sample_rate: rate,
        channels,
    }
}
