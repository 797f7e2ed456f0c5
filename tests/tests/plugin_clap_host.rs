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

use std::time::{Duration, Instant};

use clack_host::events::event_types::TransportEvent;
use clack_host::prelude::*;
use recut_engine::analysis::Analyzer;
use recut_engine::edit::{Action, Crossfade, Granularity, Plan, render};
use recut_engine::{Audio, Corrections};

mod support;
use support::clap_host::{
    BLOCK, Host, Ports, RATE, Shared, bundle, song, transport, wait_for_session,
};

/// The plugin's A/B crossfade: 10 ms at 48 kHz (`playback::SWITCH_FADE_S`).
const FADE: usize = RATE as usize / 100;

struct Rig {
    processor: StartedPluginAudioProcessor<Host>,
    ports: Ports,
}

impl Rig {
    /// Processes one block; returns the output.
    fn block(
        &mut self,
        input: [&[f32]; 2],
        transport: &TransportEvent,
        params: &[(&str, f64)],
    ) -> [Vec<f32>; 2] {
        self.ports
            .block(&mut self.processor, input, transport, params)
    }

    /// One block with parameter changes at sample offsets.
    fn block_at(
        &mut self,
        input: [&[f32]; 2],
        transport: &TransportEvent,
        params: &[(u32, &str, f64)],
    ) -> [Vec<f32>; 2] {
        self.ports
            .block_at(&mut self.processor, input, transport, params)
    }
}

/// Candidate `i` of the saved session rendered by the engine from the captured song: what
/// the plugin's audition of it must play, sample for sample.
fn engine_render(audio: &Audio, session: &serde_json::Value, i: usize) -> Audio {
    let c = &session["candidates"][i];
    let actions: Vec<Action> = serde_json::from_value(c["actions"].clone()).expect("actions");
    let granularity: Granularity =
        serde_json::from_value(c["granularity"].clone()).expect("granularity");
    let analysis = Analyzer::new(audio, "capture".into())
        .and_then(|a| a.analyze(&Corrections::default()))
        .expect("analysis of the capture");
    let plan = Plan::build(&analysis, actions, audio.sample_rate, granularity).expect("plan");
    render(audio, &plan, Crossfade::default()).expect("render")
}

/// Switches A -> B with a parameter event `offset` samples into a block and checks the
/// output: A's render up to the event's sample, then the equal-power crossfade into B's
/// render over [`FADE`] samples, then B's render; no step larger than the two renders'
/// own steps there plus what the fade adds.
fn switch_mid_block(rig: &mut Rig, a: &Audio, b: &Audio) {
    let n = a.frames().min(b.frames());
    // Where the edits differ (both keep the intro): the first 0.1 s window after which
    // A and B stay apart by more than 0.05 for the whole fade.
    let apart = |s: usize| {
        (s..s + FADE).all(|i| (a.channels[0][i] - b.channels[0][i]).abs() > 1e-3)
            && (s..s + FADE).any(|i| (a.channels[0][i] - b.channels[0][i]).abs() > 0.05)
    };
    let switch = (RATE as usize * 2..n - RATE as usize)
        .step_by(BLOCK + 37)
        .find(|&s| apart(s))
        .expect("candidates A and B differ somewhere");
    // Play from one second (a whole number of blocks) before the block holding the switch.
    let offset = (switch % BLOCK) as u32;
    let start = switch - offset as usize - 94 * BLOCK;
    let silence = vec![0.0f32; BLOCK];
    // Stopped for a block (fade-out), then audition A from `start`.
    let _ = rig.block(
        [&silence, &silence],
        &transport(false, start),
        &[("audition", 1.0)],
    );
    let mut out = [Vec::new(), Vec::new()];
    let mut at = start;
    while at < switch + 2 * FADE + BLOCK {
        let events: &[(u32, &str, f64)] = if at + BLOCK > switch && at <= switch {
            &[(offset, "audition", 2.0)]
        } else {
            &[]
        };
        let o = rig.block_at([&silence, &silence], &transport(true, at), events);
        out[0].extend_from_slice(&o[0]);
        out[1].extend_from_slice(&o[1]);
        at += BLOCK;
    }
    let theta = |k: usize| std::f64::consts::FRAC_PI_2 * (k as f64 + 0.5) / FADE as f64;
    for (c, ch) in out.iter().enumerate() {
        let (ra, rb) = (&a.channels[c], &b.channels[c]);
        for (j, got) in ch.iter().enumerate().skip(FADE) {
            let i = start + j;
            let want = if i < switch {
                ra[i]
            } else if i < switch + FADE {
                let t = theta(i - switch);
                rb[i] * t.sin() as f32 + ra[i] * t.cos() as f32
            } else {
                rb[i]
            };
            assert!(
                (got - want).abs() <= 1e-6,
                "channel {c}, sample {i} (switch at {switch}, {offset} into a block): \
                 {got} vs the engine's {want}"
            );
        }
        // No discontinuity: around the switch, no step beyond the renders' own largest
        // step there plus the ramp the equal-power fade adds (difference spread over it).
        let window = switch - 64..switch + FADE + 64;
        let own = |r: &[f32]| {
            r[window.clone()]
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0f32, f32::max)
        };
        let diff = window
            .clone()
            .map(|i| (ra[i] - rb[i]).abs())
            .fold(0.0f32, f32::max);
        let ramp = diff * std::f32::consts::FRAC_PI_2 / FADE as f32;
        let limit = own(ra).max(own(rb)) + ramp + 1e-6;
        let seen = ch[window.start - start..window.end - start]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        assert!(
            seen <= limit,
            "channel {c}: step {seen} at the switch, limit {limit}"
        );
    }
    println!(
        "FIGURE clap host: A -> B switch {offset} samples into a {BLOCK}-sample block at sample \
         {switch}, crossfade within 1e-6 of the engine's renders"
    );
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
        ports: Ports::stereo(),
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

    // A -> B in the middle of a block: sample-accurate and click-free, against the
    // engine's own renders of the two plans the plugin recorded in its session.
    let session = wait_for_session(&mut instance, Duration::from_secs(30), |s| {
        s["candidates"].as_array().is_some_and(|c| c.len() >= 2)
    });
    let (pick_a, pick_b) = (
        session["pick_a"].as_u64().expect("pick_a") as usize,
        session["pick_b"].as_u64().expect("pick_b") as usize,
    );
    let captured = Audio {
        sample_rate: RATE,
        channels: song.to_vec(),
    };
    let a = engine_render(&captured, &session, pick_a);
    let b = engine_render(&captured, &session, pick_b);
    assert_eq!(
        edit[0][FADE..a.frames().min(edit[0].len())],
        a.channels[0][FADE..a.frames().min(edit[0].len())],
        "audition A is the engine's render of candidate A"
    );
    switch_mid_block(&mut rig, &a, &b);

    let stopped = rig.processor.stop_processing();
    instance.deactivate(stopped);
    drop(instance);
}
