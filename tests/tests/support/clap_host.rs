//! What the CLAP host tests share: a minimal clack-host host, the bundle under test, the
//! test song, transport events and block processing.
// Each test binary uses its own subset.
#![allow(dead_code)]

use std::ffi::CStr;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::extensions::prelude::*;
use clack_host::prelude::*;
use clack_host::stream::{InputStream, OutputStream};
use clack_host::utils::FixedPoint;
use clap_sys::ext::state::{CLAP_EXT_STATE, clap_plugin_state};

pub const RATE: u32 = 48_000;
pub const BLOCK: usize = 512;

pub struct Shared;
impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}
pub struct Host;
impl HostHandlers for Host {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The bundle, built once if absent.
pub fn bundle() -> PathBuf {
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
pub fn param_id(id: &str) -> ClapId {
    let mut hash: u32 = 0;
    for b in id.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(u32::from(b));
    }
    ClapId::new(hash & !(1 << 31))
}

/// 150 s of a 120 BPM groove: kick on every beat, a bass line changing every bar and a
/// hi-hat on the off-beats, so the analysis finds beats, bars and phrases.
pub fn song() -> [Vec<f32>; 2] {
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

pub fn transport(playing: bool, pos: usize) -> TransportEvent {
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

/// The host side of the audio ports and output events, reused block after block.
pub struct Ports {
    inputs: AudioPorts,
    outputs: AudioPorts,
    out_events: EventBuffer,
}

impl Ports {
    /// Stereo in, stereo out.
    pub fn stereo() -> Ports {
        Ports {
            inputs: AudioPorts::with_capacity(2, 1),
            outputs: AudioPorts::with_capacity(2, 1),
            out_events: EventBuffer::new(),
        }
    }

    /// Processes one block of `input` with `transport` and parameter changes `params`
    /// (nice-plug string ids, CLAP values) at its first sample; returns the output.
    pub fn block(
        &mut self,
        processor: &mut StartedPluginAudioProcessor<Host>,
        input: [&[f32]; 2],
        transport: &TransportEvent,
        params: &[(&str, f64)],
    ) -> [Vec<f32>; 2] {
        let timed: Vec<(u32, &str, f64)> = params.iter().map(|&(id, v)| (0, id, v)).collect();
        self.block_at(processor, input, transport, &timed)
    }

    /// [`Ports::block`] with each parameter change at its own sample offset in the block
    /// (`(offset, id, value)`, offsets ascending, as CLAP requires).
    pub fn block_at(
        &mut self,
        processor: &mut StartedPluginAudioProcessor<Host>,
        input: [&[f32]; 2],
        transport: &TransportEvent,
        params: &[(u32, &str, f64)],
    ) -> [Vec<f32>; 2] {
        let n = input[0].len();
        let mut ins = [input[0].to_vec(), input[1].to_vec()];
        let mut outs = [vec![0.0f32; n], vec![0.0f32; n]];
        let mut events = EventBuffer::new();
        for &(time, id, v) in params {
            events.push(&ParamValueEvent::new(
                time,
                param_id(id),
                Pckn::match_all(),
                v,
            ));
        }
        self.out_events.clear();
        {
            let in_bufs = self.inputs.with_input_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    ins.iter_mut().map(InputChannel::variable),
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
            processor
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

/// The plugin side of `clap.state` (clack-extensions is not a dependency; this is the
/// pattern clack-host documents for custom extensions).
#[derive(Copy, Clone)]
pub struct PluginState(RawExtension<PluginExtensionSide, clap_plugin_state>);

// SAFETY: CLAP_EXT_STATE is the id of clap_plugin_state in the CLAP spec.
unsafe impl Extension for PluginState {
    const IDENTIFIERS: &[&CStr] = &[CLAP_EXT_STATE];
    type ExtensionSide = PluginExtensionSide;

    unsafe fn from_raw(raw: RawExtension<Self::ExtensionSide>) -> Self {
        Self(unsafe { raw.cast() })
    }
}

impl PluginState {
    /// The extension of `instance` (Recut implements it).
    pub fn of(instance: &mut PluginInstance<Host>) -> PluginState {
        instance
            .plugin_handle()
            .shared()
            .get_extension::<PluginState>()
            .expect("Recut implements clap.state")
    }

    /// `clap_plugin_state.save` on the main thread.
    pub fn save(&self, plugin: &mut PluginMainThreadHandle) -> Vec<u8> {
        let shared = plugin.shared();
        let save = shared.use_extension(&self.0).save.expect("state.save");
        let mut bytes = Vec::new();
        let mut stream = OutputStream::from_writer(&mut bytes);
        // SAFETY: a valid plugin and stream, on the main thread.
        let ok = unsafe { save(plugin.as_raw_ptr(), stream.as_raw_mut()) };
        assert!(ok, "state.save returned false");
        bytes
    }

    /// `clap_plugin_state.load` on the main thread.
    pub fn load(&self, plugin: &mut PluginMainThreadHandle, bytes: &[u8]) {
        let shared = plugin.shared();
        let load = shared.use_extension(&self.0).load.expect("state.load");
        let mut reader = Cursor::new(bytes);
        let mut stream = InputStream::from_reader(&mut reader);
        // SAFETY: a valid plugin and stream, on the main thread.
        let ok = unsafe { load(plugin.as_raw_ptr(), stream.as_raw_mut()) };
        assert!(ok, "state.load returned false");
    }
}

/// The state as JSON. nice-plug's CLAP wrapper writes the JSON behind its length as a
/// little-endian u64 (plain JSON unless nice-plug is built with zstd).
pub fn state_json(bytes: &[u8]) -> serde_json::Value {
    assert!(bytes.len() > 8, "state of {} bytes", bytes.len());
    let (len, json) = bytes.split_at(8);
    let len = u64::from_le_bytes(len.try_into().unwrap());
    assert_eq!(len, json.len() as u64, "length prefix of the state");
    serde_json::from_slice(json).unwrap_or_else(|e| {
        panic!(
            "state is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&json[..json.len().min(200)])
        )
    })
}

/// State bytes as nice-plug's CLAP wrapper reads them back.
pub fn state_bytes(state: &serde_json::Value) -> Vec<u8> {
    let json = serde_json::to_vec(state).expect("state JSON");
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    bytes
}

/// The persisted session (a JSON string inside the state's `fields`).
pub fn session(state: &serde_json::Value) -> serde_json::Value {
    let raw = state["fields"]["session"]
        .as_str()
        .unwrap_or_else(|| panic!("no fields.session in {state}"));
    serde_json::from_str(raw).expect("session JSON")
}

/// Saves the state of `instance` until `done(session)` holds (the worker writes the
/// session in the background), at most `limit`.
pub fn wait_for_session(
    instance: &mut PluginInstance<Host>,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let state = PluginState::of(instance);
    let started = Instant::now();
    loop {
        let s = session(&state_json(&state.save(&mut instance.plugin_handle())));
        if done(&s) {
            return s;
        }
        assert!(
            started.elapsed() < limit,
            "the session did not get there in {limit:?}: {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
