//! Recut.clap's project state through the CLAP `clap.state` extension, as a DAW saves and
//! reopens a project: instance 1 gets parameter changes and captures a song (the worker
//! analyses it, makes candidates and records them in the session), its state is saved to
//! bytes; a fresh instance 2 loads those bytes, saves the same bytes back, and once
//! activated reloads the song and the stored candidates, so audition A sounds exactly as it
//! did in instance 1.
//!
//! Uses `target/bundled/Recut.clap` like `plugin_clap_host.rs` (built when absent).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clack_host::events::event_types::TransportEvent;
use clack_host::prelude::*;

mod support;
use support::clap_host::{
    BLOCK, Host, PluginState, Ports, RATE, Shared, bundle, session, song, state_json, transport,
};

/// The CLAP value of `target_seconds` for `seconds`. nice-plug's CLAP values are
/// normalized (times the step count for discrete parameters), and this range is skewed:
/// 10..900 s with factor 2^-1 (`FloatRange::skew_factor(-1.0)`).
fn target_value(seconds: f64) -> f64 {
    ((seconds - 10.0) / (900.0 - 10.0)).powf(0.5)
}

/// One plugin instance with its started processor.
struct Rig {
    instance: PluginInstance<Host>,
    processor: Option<StartedPluginAudioProcessor<Host>>,
    state: PluginState,
    ports: Ports,
}

impl Rig {
    fn new(entry: &PluginEntry) -> Rig {
        let host_info =
            HostInfo::new("recut-tests", "Recut", "https://example.invalid", "0.1").unwrap();
        let mut instance =
            PluginInstance::<Host>::new(|_| Shared, |_| (), entry, c"dev.recut.recut", &host_info)
                .expect("instance");
        let state = PluginState::of(&mut instance);
        Rig {
            instance,
            processor: None,
            state,
            ports: Ports::stereo(),
        }
    }

    fn save(&mut self) -> Vec<u8> {
        let state = self.state;
        state.save(&mut self.instance.plugin_handle())
    }

    fn load(&mut self, bytes: &[u8]) {
        let state = self.state;
        state.load(&mut self.instance.plugin_handle(), bytes);
    }

    fn activate(&mut self) {
        let config = PluginAudioConfiguration {
            sample_rate: f64::from(RATE),
            min_frames_count: 1,
            max_frames_count: BLOCK as u32,
        };
        let processor = self.instance.activate(|_, _| (), config).expect("activate");
        self.processor = Some(processor.start_processing().expect("start processing"));
    }

    fn deactivate(mut self) {
        if let Some(p) = self.processor.take() {
            let stopped = p.stop_processing();
            self.instance.deactivate(stopped);
        }
    }

    /// Processes one block; returns the output.
    fn block(
        &mut self,
        input: [&[f32]; 2],
        transport: &TransportEvent,
        params: &[(&str, f64)],
    ) -> [Vec<f32>; 2] {
        let processor = self.processor.as_mut().expect("activated");
        self.ports.block(processor, input, transport, params)
    }

    /// Feeds stopped-transport blocks until the output is silent: a song is loaded and its
    /// candidates are ready (until then the plugin passes its input through).
    fn wait_for_song(&mut self, what: &str) -> Duration {
        let probe = vec![0.5f32; BLOCK];
        let started = Instant::now();
        loop {
            let out = self.block([&probe, &probe], &transport(false, 0), &[]);
            if out[0].iter().all(|s| *s == 0.0) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: no song 60 s after it was due"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `seconds` of output with `audition` from the start of the song.
    fn play(&mut self, audition: f64, seconds: usize) -> Vec<f32> {
        let total = RATE as usize * seconds;
        let silence = vec![0.0f32; BLOCK];
        let mut out = Vec::with_capacity(total);
        let mut at = 0;
        while at < total {
            let params: &[(&str, f64)] = if at == 0 {
                &[("audition", audition)]
            } else {
                &[]
            };
            let o = self.block([&silence, &silence], &transport(true, at), params);
            out.extend_from_slice(&o[0]);
            at += BLOCK;
        }
        out
    }
}

#[test]
fn recut_clap_state_survives_save_and_load() {
    let data = tempfile::tempdir().unwrap();
    // Captures are written under $XDG_DATA_HOME/recut/captures by the plugin (same process).
    unsafe { std::env::set_var("XDG_DATA_HOME", data.path()) };
    let entry = unsafe { PluginEntry::load(bundle()) }.expect("loading Recut.clap");

    // Instance 1: parameters from the host, then a captured song.
    let mut one = Rig::new(&entry);
    one.activate();
    let song = song();
    let frames = song[0].len();
    let mut at = 0;
    while at < frames {
        let n = BLOCK.min(frames - at);
        let params: &[(&str, f64)] = if at == 0 {
            &[
                ("capture", 1.0),
                ("target_seconds", target_value(90.0)),
                ("granularity", 0.0),
                // Integer parameters count steps from the minimum (30 s).
                ("capture_seconds", 240.0 - 30.0),
            ]
        } else {
            &[]
        };
        one.block(
            [&song[0][at..at + n], &song[1][at..at + n]],
            &transport(true, at),
            params,
        );
        at += n;
    }
    let probe = vec![0.0f32; BLOCK];
    one.block(
        [&probe, &probe],
        &transport(false, frames),
        &[("capture", 0.0)],
    );
    one.wait_for_song("instance 1 after the capture");

    // The session records the candidates once the worker is done with them.
    let started = Instant::now();
    let saved = loop {
        let bytes = one.save();
        let s = session(&state_json(&bytes));
        if s["candidates"].as_array().is_some_and(|c| c.len() >= 2) {
            break bytes;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no candidates in the saved session: {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let state = state_json(&saved);
    let params = &state["params"];
    // nice-plug's ParamValue is externally tagged: {"f32": 40.0}, {"string": "beat"}, ...
    assert_eq!(
        params["target_seconds"]["f32"].as_f64(),
        Some(90.0),
        "{state}"
    );
    assert_eq!(params["granularity"]["string"], "beat", "{state}");
    assert_eq!(
        params["capture_seconds"]["i32"].as_i64(),
        Some(240),
        "{state}"
    );
    assert_eq!(params["capture"]["bool"], false, "{state}");
    let s1 = session(&state);
    let song_path = PathBuf::from(s1["song_path"].as_str().expect("a song path"));
    assert!(
        song_path.starts_with(data.path()) && song_path.is_file(),
        "capture file {}",
        song_path.display()
    );
    let edit_one = one.play(1.0, 100);
    one.deactivate();

    // Instance 2: a fresh instance loads the bytes (inactive, as a host reopening a project
    // does) and saves the same bytes back.
    let mut two = Rig::new(&entry);
    let fresh = state_json(&two.save());
    assert_eq!(
        fresh["params"]["target_seconds"]["f32"].as_f64(),
        Some(120.0)
    );
    assert!(session(&fresh)["song_path"].is_null());
    two.load(&saved);
    let resaved = two.save();
    assert_eq!(
        state_json(&resaved),
        state,
        "state changed across save -> load -> save"
    );

    // Activated, it reloads the song and the stored candidates: audition A is the same edit.
    two.activate();
    let reload = two.wait_for_song("instance 2 after loading the state");
    println!(
        "FIGURE clap state: reload of a 150 s song from the project state in {:.2} s",
        reload.as_secs_f64()
    );
    let edit_two = two.play(1.0, 100);
    assert_eq!(edit_one.len(), edit_two.len());
    let differs = edit_one
        .iter()
        .zip(&edit_two)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differs, 0, "audition A differs after the reload");
    let peak = edit_two.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.3, "audition A is silent (peak {peak})");
    let s2 = session(&state_json(&two.save()));
    assert_eq!(s2["candidates"], s1["candidates"]);
    two.deactivate();
}
