//! Recut.clap in a real CLAP host (clack-host), the way a DAW drives it: load the bundle,
//! activate at 48 kHz, turn Capture on with a parameter event, play a song through with
//! the transport running (the plugin passes it through while capturing), stop the
//! transport, wait for the worker's candidates, then play the song back from the start
//! with audition Original (bit-identical after the 10 ms fade-in) and with audition A (an
//! edit: different audio, same loudness range).
//!
//! Builds `target/bundled/Recut.clap` with `cargo xtask bundle recut-plugin --release`
//! when it is absent. `RECUT_CLAP=<path>` loads another build instead, e.g. the debug
//! library built with nice-plug's allocation check, which aborts on any allocation in
//! `process()`:
//! `cargo build -p recut-plugin --features assert_process_allocs && RECUT_CLAP=target/debug/librecut_plugin.so cargo test -p recut-tests --test plugin_clap_host`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clack_host::utils::FixedPoint;

const RATE: u32 = 48_000;
const BLOCK: usize = 512;

struct Shared;
impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}
struct Host;
impl HostHandlers for Host {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The bundle, built once if absent.
fn bundle() -> PathBuf {
    if let Some(p) = std::env::var_os("RECUT_CLAP") {
        let p = PathBuf::from(p);
        let p = if p.is_relative() { root().join(p) } else { p };
        assert!(p.is_file(), "RECUT_CLAP={} does not exist", p.display());
        return p;
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let path = target.join("bundled").join("Recut.clap");
    if !path.is_file() {
        eprintln!(
            "{} is absent: running `cargo xtask bundle recut-plugin --release`",
            path.display()
        );
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["xtask", "bundle", "recut-plugin", "--release"])
            .current_dir(root())
            .status()
            .expect("running cargo xtask bundle");
        assert!(
            status.success(),
            "cargo xtask bundle recut-plugin --release failed"
        );
    }
    assert!(
        path.is_file(),
        "no bundle at {} after building it",
        path.display()
    );
    path
}

/// nice-plug's CLAP parameter id for a string id.
fn param_id(id: &str) -> ClapId {
    let mut hash: u32 = 0;
    for b in id.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(u32::from(b));
    }
    ClapId::new(hash & !(1 << 31))
}

/// 150 s of a 120 BPM groove: kick on every beat, a bass line changing every bar and a
/// hi-hat on the off-beats, so the analysis finds beats, bars and phrases.
fn song() -> [Vec<f32>; 2] {
    let n = RATE as usize * 150;
    let beat = RATE as f64 * 0.5;
    let l: Vec<f32> = (0..n)
        .map(|i| {
            let t = (i as f64 % beat) / f64::from(RATE);
            let bar = (i as f64 / (beat * 4.0)) as usize;
            let kick = (-t * 30.0).exp() * (std::f64::consts::TAU * 60.0 * t).sin();
            let hat_t = ((i as f64 + beat / 2.0) % beat) / f64::from(RATE);
            let hat = 0.1 * (-hat_t * 200.0).exp() * (((i * 7919) % 1000) as f64 / 500.0 - 1.0);
            let note = [55.0, 65.4, 73.4, 49.0, 82.4, 61.7, 55.0, 73.4][(bar / 2) % 8];
            let bass = 0.25 * (std::f64::consts::TAU * note * i as f64 / f64::from(RATE)).sin();
            (0.5 * kick + bass + hat) as f32
        })
        .collect();
    let r = l.iter().map(|s| s * 0.8).collect();
    [l, r]
}

fn transport(playing: bool, pos: usize) -> TransportEvent {
    let flags = if playing {
        TransportFlags::IS_PLAYING | TransportFlags::HAS_SECONDS_TIMELINE
    } else {
        TransportFlags::HAS_SECONDS_TIMELINE
    };
    let seconds = FixedPoint::from_float(pos as f64 / f64::from(RATE));
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: FixedPoint::from_int(0),
        song_pos_seconds: seconds,
        tempo: 120.0,
        tempo_inc: 0.0,
        loop_start_beats: FixedPoint::from_int(0),
        loop_end_beats: FixedPoint::from_int(0),
        loop_start_seconds: FixedPoint::from_int(0),
        loop_end_seconds: FixedPoint::from_int(0),
        bar_start: FixedPoint::from_int(0),
        bar_number: 0,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

struct Rig {
    processor: StartedPluginAudioProcessor<Host>,
    inputs: AudioPorts,
    outputs: AudioPorts,
    out_events: EventBuffer,
}

impl Rig {
    /// Processes one block; returns the output.
    fn block(
        &mut self,
        input: [&[f32]; 2],
        transport: &TransportEvent,
        params: &[(&str, f64)],
    ) -> [Vec<f32>; 2] {
        let n = input[0].len();
        let mut ins = [input[0].to_vec(), input[1].to_vec()];
        let mut outs = [vec![0.0f32; n], vec![0.0f32; n]];
        let mut events = EventBuffer::new();
        for (id, v) in params {
            events.push(&ParamValueEvent::new(
                0,
                param_id(id),
                Pckn::match_all(),
                *v,
            ));
        }
        self.out_events.clear();
        {
            let in_bufs = self.inputs.with_input_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    ins.iter_mut().map(|b| InputChannel::variable(b)),
                ),
            }]);
            let mut out_bufs = self.outputs.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    outs.iter_mut().map(|b| b.as_mut_slice()),
                ),
            }]);
            let input_events = InputEvents::from_buffer(&events);
            let mut output_events = OutputEvents::from_buffer(&mut self.out_events);
            self.processor
                .process(
                    &in_bufs,
                    &mut out_bufs,
                    &input_events,
                    &mut output_events,
                    None,
                    Some(transport),
                )
                .expect("process");
        }
        outs
    }
}

#[test]
fn recut_clap_captures_and_auditions_in_a_host() {
    let data = tempfile::tempdir().unwrap();
    // Captures are written under $XDG_DATA_HOME/recut/captures by the plugin (same process).
    unsafe { std::env::set_var("XDG_DATA_HOME", data.path()) };
    let path = bundle();
    let entry = unsafe { PluginEntry::load(&path) }.expect("loading Recut.clap");
    let factory = entry.get_plugin_factory().expect("a plugin factory");
    let descriptor = factory
        .plugin_descriptors()
        .find(|d| d.id().is_some_and(|id| id.to_bytes() == b"dev.recut.recut"))
        .expect("dev.recut.recut in the bundle");
    assert_eq!(descriptor.name().unwrap().to_bytes(), b"Recut");
    let host_info =
        HostInfo::new("recut-tests", "Recut", "https://example.invalid", "0.1").unwrap();
    let mut instance = PluginInstance::<Host>::new(
        |_| Shared,
        |_| (),
        &entry,
        descriptor.id().unwrap(),
        &host_info,
    )
    .expect("instance");
    let config = PluginAudioConfiguration {
        sample_rate: f64::from(RATE),
        min_frames_count: 1,
        max_frames_count: BLOCK as u32,
    };
    let processor = instance.activate(|_, _| (), config).expect("activate");
    let mut rig = Rig {
        processor: processor.start_processing().expect("start processing"),
        inputs: AudioPorts::with_capacity(2, 1),
        outputs: AudioPorts::with_capacity(2, 1),
        out_events: EventBuffer::new(),
    };

    // Capture: Capture on, transport playing from 0; the plugin passes the song through.
    let song = song();
    let frames = song[0].len();
    let mut at = 0;
    while at < frames {
        let n = BLOCK.min(frames - at);
        let params: &[(&str, f64)] = if at == 0 { &[("capture", 1.0)] } else { &[] };
        let out = rig.block(
            [&song[0][at..at + n], &song[1][at..at + n]],
            &transport(true, at),
            params,
        );
        assert_eq!(
            out[0],
            song[0][at..at + n],
            "passthrough while capturing at {at}"
        );
        at += n;
    }

    // Transport stops: the capture goes to the worker. Until a song is ready the plugin
    // passes input through; once it is, a stopped player outputs silence.
    let probe = vec![0.5f32; BLOCK];
    let started = Instant::now();
    loop {
        let out = rig.block(
            [&probe, &probe],
            &transport(false, frames),
            &[("capture", 0.0)],
        );
        if out[0].iter().all(|s| *s == 0.0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no candidates 60 s after the capture ended"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let ready = started.elapsed();
    println!(
        "FIGURE clap host: capture of 150 s -> candidates ready in {:.2} s",
        ready.as_secs_f64()
    );

    // Audition Original from the start: the song again (after the 10 ms fade-in).
    let play = |rig: &mut Rig, audition: f64, seconds: usize| -> [Vec<f32>; 2] {
        let total = RATE as usize * seconds;
        let mut out = [Vec::with_capacity(total), Vec::with_capacity(total)];
        let silence = vec![0.0f32; BLOCK];
        let mut at = 0;
        while at < total {
            let params: &[(&str, f64)] = if at == 0 {
                &[("audition", audition)]
            } else {
                &[]
            };
            let o = rig.block([&silence, &silence], &transport(true, at), params);
            out[0].extend_from_slice(&o[0]);
            out[1].extend_from_slice(&o[1]);
            at += BLOCK;
        }
        out
    };
    let original = play(&mut rig, 0.0, 60);
    let fade = (RATE as usize) / 100;
    assert_eq!(
        original[0][fade..],
        song[0][fade..original[0].len()],
        "audition Original plays the capture"
    );
    assert_eq!(original[1][fade..], song[1][fade..original[1].len()]);

    // Stop (fade out), then audition A from the start: an edit, not the original.
    let _ = rig.block([&probe, &probe], &transport(false, 0), &[]);
    let edit = play(&mut rig, 1.0, 150);
    let differs = edit[0]
        .iter()
        .zip(&song[0])
        .filter(|(a, b)| (*a - *b).abs() > 1e-6)
        .count();
    assert!(
        differs > RATE as usize,
        "audition A sounds like the original ({differs} differing samples)"
    );
    let peak = |x: &[f32]| x.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(
        peak(&edit[0]) > 0.3 && peak(&edit[0]) <= peak(&song[0]) * 1.01,
        "edit peak {}",
        peak(&edit[0])
    );
    // The edit is ~120 s (the default target): silence after its end.
    let tail = &edit[0][RATE as usize * 130..];
    assert!(
        tail.iter().all(|s| *s == 0.0),
        "audition A should end near the 120 s target"
    );

    let stopped = rig.processor.stop_processing();
    instance.deactivate(stopped);
    drop(instance);
}
