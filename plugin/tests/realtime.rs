//! The audio-thread path end to end, without a host: capture a song through
//! `Realtime::process_block`, let the worker analyse it and make candidates, audition them
//! A/B, and prove that `process_block` never allocates or frees (a counting global
//! allocator, armed on the audio thread only). Prints the figures the README quotes:
//! time from the end of a capture to the first candidates, and the cost of one block.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nice_plug::params::InternalParamMut;
use nice_plug::prelude::Params;
use recut_engine::Audio;
use recut_plugin::params::{Audition, RecutParams};
use recut_plugin::shared::Shared;
use recut_plugin::worker::{Captured, Command, RatingInput, ToAudio, Worker};
use recut_plugin::{BlockInfo, Realtime};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static FREES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.try_with(Cell::get).unwrap_or(false) {
            FREES.fetch_add(1, Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with the allocator armed on this thread; returns (allocations, frees).
fn counted<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    let (a0, f0) = (ALLOCS.load(Relaxed), FREES.load(Relaxed));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, ALLOCS.load(Relaxed) - a0, FREES.load(Relaxed) - f0)
}

/// A 4-minute song: the first corpus song, looped to 240 s, or a synthetic groove.
fn song_240s() -> Audio {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/songs");
    let file = std::fs::read_dir(&dir).ok().and_then(|d| {
        d.filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ogg"))
            .min()
    });
    let mut audio = match file.and_then(|f| recut_engine::audio::decode_file(&f).ok()) {
        Some(a) => a,
        None => synth(44_100, 30.0),
    };
    audio.channels.truncate(2);
    if audio.channels.len() == 1 {
        audio.channels.push(audio.channels[0].clone());
    }
    let want = audio.sample_rate as usize * 240;
    for ch in &mut audio.channels {
        let orig = ch.clone();
        while ch.len() < want {
            ch.extend_from_slice(&orig[..(want - ch.len()).min(orig.len())]);
        }
        ch.truncate(want);
    }
    audio
}

/// Kick on every beat at 120 BPM with a bass line, stereo.
fn synth(rate: u32, seconds: f64) -> Audio {
    let n = (f64::from(rate) * seconds) as usize;
    let beat = f64::from(rate) * 0.5;
    let ch: Vec<f32> = (0..n)
        .map(|i| {
            let t = (i as f64 % beat) / f64::from(rate);
            let bar = (i as f64 / (beat * 4.0)) as usize;
            let kick = (-t * 30.0).exp() * (std::f64::consts::TAU * 60.0 * t).sin();
            let bass = 0.2
                * (std::f64::consts::TAU * [55.0, 65.4, 73.4, 49.0][bar % 4] * i as f64
                    / f64::from(rate))
                .sin();
            (0.6 * kick + bass) as f32
        })
        .collect();
    Audio {
        sample_rate: rate,
        channels: vec![ch.clone(), ch],
    }
}

struct Rig {
    shared: Arc<Shared>,
    params: Arc<RecutParams>,
    rt: Realtime,
    worker: Worker,
    _data: tempfile::TempDir,
}

/// One data folder per test process (set once: tests run on several threads).
fn data_home() -> &'static Path {
    static DATA: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        // The worker writes captures under $XDG_DATA_HOME/recut/captures.
        unsafe { std::env::set_var("XDG_DATA_HOME", d.path()) };
        d
    })
    .path()
}

fn rig(rate: u32, capture_seconds: u32) -> Rig {
    let data = tempfile::tempdir_in(data_home()).unwrap();
    let params = Arc::new(RecutParams::default());
    params.session.write().unwrap().store_dir = data.path().join("feedback");
    let (tx, rx) = crossbeam_channel::unbounded::<Command>();
    let shared = Arc::new(Shared::new(tx));
    shared.status.set_sample_rate(rate as f32);
    let (cap_tx, cap_rx) = rtrb::RingBuffer::<Captured>::new(16);
    let (play_tx, play_rx) = rtrb::RingBuffer::<ToAudio>::new(16);
    let worker = Worker::new(shared.clone(), params.clone(), rx, cap_rx, play_tx);
    let mut rt = Realtime::new(rate as f32, cap_tx, play_rx);
    rt.set_capture_buffer(
        recut_plugin::capture::CaptureBuffer::new(rate, capture_seconds),
        &shared,
    );
    Rig {
        shared,
        params,
        rt,
        worker,
        _data: data,
    }
}

fn info(playing: bool, pos: i64, capture: bool, audition: Audition) -> BlockInfo {
    BlockInfo {
        host_playing: playing,
        host_pos: Some(pos),
        capture,
        audition,
    }
}

#[test]
fn capture_analyse_audition_without_allocating() {
    let song = song_240s();
    let rate = song.sample_rate;
    let mut r = rig(rate, 300);
    r.params.session.write().unwrap().n_candidates = 4;
    // The target is the params' default (120 s).

    // 1. Capture the whole song in 512-frame blocks while the "host" plays from 1 s.
    let offset = i64::from(rate);
    let mut l = vec![0.0f32; 512];
    let mut rr = vec![0.0f32; 512];
    let frames = song.frames();
    let mut at = 0;
    let ((), allocs, frees) = counted(|| {
        while at < frames {
            let n = 512.min(frames - at);
            l[..n].copy_from_slice(&song.channels[0][at..at + n]);
            rr[..n].copy_from_slice(&song.channels[1][at..at + n]);
            let mut io: [&mut [f32]; 2] = [&mut l[..n], &mut rr[..n]];
            r.rt.process_block(
                &mut io,
                info(true, offset + at as i64, true, Audition::Original),
                &r.shared,
            );
            // Passthrough while capturing.
            assert_eq!(io[0][..n], song.channels[0][at..at + n]);
            at += n;
        }
        // Transport stops: the capture goes to the worker.
        let mut io: [&mut [f32]; 2] = [&mut l[..], &mut rr[..]];
        r.rt.process_block(
            &mut io,
            info(false, offset + at as i64, true, Audition::Original),
            &r.shared,
        );
    });
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "capture allocated {allocs} times and freed {frees} times"
    );
    assert_eq!(r.shared.captured.load(Relaxed) as usize, frames);

    // 2. The worker takes the capture: analysis + candidates.
    let t0 = Instant::now();
    r.worker.poll();
    let ready = t0.elapsed();
    let view = r.shared.view();
    let status = r.shared.status.line();
    let song_view = view
        .song
        .as_ref()
        .unwrap_or_else(|| panic!("no song after capture: {status}"));
    assert_eq!(song_view.candidates.len(), 4, "{status}");
    println!(
        "FIGURE end of capture -> {} candidates for a {:.0} s song: {:.3} s ({status})",
        song_view.candidates.len(),
        song_view.duration_s,
        ready.as_secs_f64()
    );
    assert!(ready < Duration::from_secs(30));
    let session = r.params.session.read().unwrap().clone();
    assert_eq!(session.host_offset, offset);
    assert_eq!(session.candidates.len(), 4);
    let capture_file = session.song_path.clone().expect("capture saved as WAV");
    let saved = recut_engine::audio::decode_file(&capture_file).unwrap();
    assert_eq!(
        saved.channels[0], song.channels[0],
        "the saved capture is bit-identical"
    );

    // 3. Audition: the host plays from the song's start; switch A/B mid-song, seek, loop.
    let block = 512;
    let mut costs = Vec::with_capacity(4000);
    let mut worst = Duration::ZERO;
    let ((), allocs, frees) = counted(|| {
        let mut pos = offset;
        for k in 0..4000 {
            let audition = match (k / 500) % 3 {
                0 => Audition::A,
                1 => Audition::B,
                _ => Audition::Original,
            };
            if k == 1700 {
                r.shared.pick_b.store(2, Relaxed);
            }
            // Jump somewhere else in the song now and then (host seek).
            if k % 1000 == 999 {
                pos += 10 * i64::from(rate);
            }
            l.fill(0.0);
            rr.fill(0.0);
            let mut io: [&mut [f32]; 2] = [&mut l[..block], &mut rr[..block]];
            let t = Instant::now();
            r.rt.process_block(&mut io, info(true, pos, false, audition), &r.shared);
            let dt = t.elapsed();
            if k >= 100 {
                costs.push(dt);
            }
            worst = worst.max(dt);
            pos += block as i64;
        }
        // Internal transport with a loop region, host stopped.
        r.shared.loop_on.store(true, Relaxed);
        r.shared.loop_start.store(u64::from(rate), Relaxed);
        r.shared.loop_end.store(3 * u64::from(rate), Relaxed);
        r.shared.want_play.store(true, Relaxed);
        r.shared.seek.store(u64::from(rate), Relaxed);
        for _ in 0..1000 {
            let mut io: [&mut [f32]; 2] = [&mut l[..block], &mut rr[..block]];
            r.rt.process_block(&mut io, info(false, 0, false, Audition::A), &r.shared);
        }
    });
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "playback allocated {allocs} times and freed {frees} times"
    );
    let pos = r.shared.position.load(Relaxed);
    assert!(
        (u64::from(rate)..3 * u64::from(rate)).contains(&pos),
        "loop kept the position in 1-3 s: {pos}"
    );
    costs.sort();
    let median = costs[costs.len() / 2];
    println!(
        "FIGURE process_block, 512 frames stereo at {rate} Hz: median {:.1} µs, p99 {:.1} µs, worst {:.1} µs (budget {:.0} µs)",
        median.as_secs_f64() * 1e6,
        costs[costs.len() * 99 / 100].as_secs_f64() * 1e6,
        worst.as_secs_f64() * 1e6,
        512.0 / f64::from(rate) * 1e6
    );

    // 4. A new candidate set replaces the song on the audio thread; the old one is freed
    //    by the worker, not the audio thread.
    r.worker.handle(Command::NewCandidates);
    let ((), allocs, frees) = counted(|| {
        let mut io: [&mut [f32]; 2] = [&mut l[..block], &mut rr[..block]];
        r.rt.process_block(&mut io, info(false, 0, false, Audition::B), &r.shared);
        for _ in 0..10 {
            let mut io: [&mut [f32]; 2] = [&mut l[..block], &mut rr[..block]];
            r.rt.process_block(&mut io, info(false, 0, false, Audition::B), &r.shared);
        }
    });
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "song swap allocated {allocs} / freed {frees}"
    );
    assert_eq!(r.rt.player.playable().unwrap().generation, 2);
    r.worker.poll(); // frees generation 1 here

    // 5. Rate, export, and restore in a fresh instance.
    r.worker.handle(Command::Rate(RatingInput {
        a: 0,
        b: 1,
        preference: recut_engine::feedback::Preference::A,
        tie_kind: None,
        strength: 2,
        notes: "tighter".into(),
        left: recut_engine::feedback::Side::B,
    }));
    assert!(
        r.shared.status.line().starts_with("rating 1 saved"),
        "{}",
        r.shared.status.line()
    );
    let store = recut_engine::feedback::Store::open(&session.store_dir).unwrap();
    let loaded = store.read_all().unwrap();
    assert_eq!(loaded.ratings.len(), 1);
    assert_eq!(loaded.ratings[0].notes.as_deref(), Some("tighter"));
    assert_eq!(
        loaded.ratings[0].left,
        Some(recut_engine::feedback::Side::B)
    );

    r.worker.handle(Command::Export { source: 1 });
    assert!(
        r.shared.status.line().starts_with("exported"),
        "{}",
        r.shared.status.line()
    );

    let saved_state = r.params.serialize_fields();
    let r2 = rig(rate, 10);
    r2.params.deserialize_fields(&saved_state);
    let mut r2 = r2;
    r2.worker.handle(Command::Restore);
    let v2 = r2.shared.view();
    let s2 = v2
        .song
        .as_ref()
        .unwrap_or_else(|| panic!("restore failed: {}", r2.shared.status.line()));
    let v1 = r.shared.view();
    let s1 = v1.song.as_ref().unwrap();
    assert_eq!(
        s2.candidates.iter().map(|c| &c.actions).collect::<Vec<_>>(),
        s1.candidates.iter().map(|c| &c.actions).collect::<Vec<_>>()
    );
    // The capture WAV and the export are big: remove them.
    let _ = std::fs::remove_file(&capture_file);
    let _ = std::fs::remove_dir_all(data_home().join("recut"));
}

#[test]
fn bad_file_is_an_error_in_the_status_line() {
    let mut r = rig(48_000, 1);
    r.worker
        .handle(Command::LoadFile("/nonexistent/song.flac".into()));
    assert!(
        r.shared.status.line().starts_with("error:"),
        "{}",
        r.shared.status.line()
    );
    r.worker.handle(Command::NewCandidates);
    assert!(
        r.shared
            .status
            .line()
            .contains("load or capture a song first")
    );
    r.worker.handle(Command::Export { source: 1 });
    assert!(r.shared.status.line().starts_with("error:"));
}

#[test]
fn a_new_take_needs_capture_off_and_on() {
    let mut r = rig(48_000, 5);
    let mut l = vec![0.1f32; 512];
    let mut rr = vec![0.1f32; 512];
    let mut block = |r: &mut Rig, playing: bool, capture: bool| {
        let mut io: [&mut [f32]; 2] = [&mut l[..], &mut rr[..]];
        r.rt.process_block(
            &mut io,
            info(playing, 0, capture, Audition::Original),
            &r.shared,
        );
    };
    for _ in 0..10 {
        block(&mut r, true, true);
    }
    assert!(r.shared.capturing.load(Relaxed));
    block(&mut r, false, true); // transport stops: take handed to the worker
    assert!(!r.shared.capturing.load(Relaxed));
    assert!(r.shared.capture_taken.load(Relaxed));
    r.worker.poll(); // returns the (emptied) buffer; 10 blocks of DC is no song: an error
    assert!(
        r.shared.status.line().starts_with("error:"),
        "{}",
        r.shared.status.line()
    );
    block(&mut r, true, true); // buffer back, Capture still on: no new take
    assert!(!r.shared.capturing.load(Relaxed));
    block(&mut r, true, false);
    block(&mut r, true, true); // off and on: a new take
    assert!(r.shared.capturing.load(Relaxed));
    assert_eq!(r.shared.captured.load(Relaxed), 512);
}

/// Sets the target length as the wrapper does on a host's change (there is no host here).
fn set_target(params: &RecutParams, seconds: f32) {
    // SAFETY: the wrapper's own setter; no other thread reads the parameter meanwhile.
    unsafe { params.target_seconds._internal_set_plain_value(seconds) };
}

/// A target longer than the song gives loop-based edits at the target; one longer than
/// looping allows (each bar repeats at most once, the kept intro and ending play once)
/// gives the longest edits, and the status line says why they are shorter.
#[test]
fn longer_targets_loop_and_say_when_they_cannot() {
    let mut r = rig(44_100, 1);
    let song = synth(44_100, 60.0);
    let wav = r._data.path().join("one-minute.wav");
    recut_engine::audio::write_wav(&wav, &song, recut_engine::audio::WavFormat::Float32).unwrap();
    set_target(&r.params, 80.0);
    r.worker.handle(Command::LoadFile(wav));
    let status = r.shared.status.line();
    let view = r.shared.view();
    let cands = &view.song.as_ref().expect("a song").candidates;
    assert!(cands.len() >= 2, "{status}");
    for c in cands {
        assert!(
            (c.duration_s - 80.0).abs() <= 2.0,
            "{} s: {status}",
            c.duration_s
        );
        assert!(
            c.actions.contains(&recut_engine::edit::Action::Loop),
            "{}",
            c.id
        );
    }
    assert!(!status.contains("longer than"), "{status}");

    set_target(&r.params, 400.0);
    r.worker.handle(Command::NewCandidates);
    let status = r.shared.status.line();
    let view = r.shared.view();
    let cands = &view.song.as_ref().expect("a song").candidates;
    assert!(cands.len() >= 2, "{status}");
    assert!(
        status.contains("target 6:40.0 is longer than this song allows"),
        "{status}"
    );
    let longest = cands.iter().map(|c| c.duration_s).fold(0.0, f64::max);
    assert!(
        (80.0..120.0).contains(&longest),
        "longest {longest} s: {status}"
    );
    // The audio thread got them: audition A plays an edit of that length.
    let mut l = vec![0.0f32; 512];
    let mut rr = vec![0.0f32; 512];
    let mut io: [&mut [f32]; 2] = [&mut l[..], &mut rr[..]];
    r.rt.process_block(&mut io, info(false, 0, false, Audition::A), &r.shared);
    let frames = r.rt.player.source_frames() as f64 / 44_100.0;
    assert!((frames - cands[0].duration_s).abs() < 0.1, "{frames} s");
}
