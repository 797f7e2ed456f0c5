//! The bundles are self-contained: `Recut.clap` copied alone into an empty folder, and the
//! `Recut.vst3` folder copied alone, each make their candidates with the shipped policy on
//! the ONNX Runtime they carry, with nothing of the repository reachable through the
//! environment: `RECUT_POLICY`, `ORT_DYLIB_PATH`, `XDG_*` unset and `HOME` an empty
//! temporary folder. (The development fallbacks compiled into the library — the
//! repository's `models/` and `.deps/` — come last in the search, so the test also checks
//! that they were not the ones used: the status note names the source.)
//!
//! The VST3's library is loaded through its CLAP entry point (nice-plug exports both from
//! the same library), which exercises the same search from `Contents/x86_64-linux/`.
//!
//! Uses `target/bundled/` like the other host tests (built when absent).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clack_host::prelude::*;

mod support;
use support::clap_host::{
    BLOCK, Host, PluginState, Ports, RATE, Shared, bundle, session, song, state_bytes, state_json,
    transport, wait_for_session,
};

/// Loads the plugin library at `lib`, points its session at `wav`, activates it and returns
/// the session once the worker has made candidates.
fn candidates_from(lib: &Path, wav: &Path) -> serde_json::Value {
    let entry = unsafe { PluginEntry::load(lib) }
        .unwrap_or_else(|e| panic!("loading {}: {e:?}", lib.display()));
    let host_info =
        HostInfo::new("recut-tests", "Recut", "https://example.invalid", "0.1").unwrap();
    let mut instance =
        PluginInstance::<Host>::new(|_| Shared, |_| (), &entry, c"dev.recut.recut", &host_info)
            .expect("instance");
    // A project whose song is `wav`, as a host reopening it would load it.
    let state = PluginState::of(&mut instance);
    let mut json = state_json(&state.save(&mut instance.plugin_handle()));
    let mut s = session(&json);
    s["song_path"] = serde_json::Value::String(wav.display().to_string());
    json["fields"]["session"] = serde_json::Value::String(s.to_string());
    state.load(&mut instance.plugin_handle(), &state_bytes(&json));
    let config = PluginAudioConfiguration {
        sample_rate: f64::from(RATE),
        min_frames_count: 1,
        max_frames_count: BLOCK as u32,
    };
    let processor = instance.activate(|_, _| (), config).expect("activate");
    let mut processor = processor.start_processing().expect("start processing");
    let mut ports = Ports::stereo();
    let silence = vec![0.0f32; BLOCK];
    let _ = ports.block(
        &mut processor,
        [&silence, &silence],
        &transport(false, 0),
        &[],
    );
    let s = wait_for_session(&mut instance, Duration::from_secs(60), |s| {
        s["candidates"].as_array().is_some_and(|c| c.len() >= 2)
            && s["policy"].as_str().is_some_and(|p| !p.is_empty())
    });
    let stopped = processor.stop_processing();
    instance.deactivate(stopped);
    s
}

/// The policy version in a status note ("policy <version> on ..."), checked against the
/// repository's shipped model (its metadata holds the version as plain bytes).
fn shipped_version(note: &str) -> String {
    let version = note
        .strip_prefix("policy ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("not the ONNX policy: {note}"));
    let model = fs::read(support::clap_host::root().join("models/policy.onnx")).unwrap();
    assert!(
        model
            .windows(version.len())
            .any(|w| w == version.as_bytes()),
        "{version} is not the version of models/policy.onnx"
    );
    version.to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn bundles_carry_their_policy_and_runtime() {
    let clap = bundle();
    let vst3 = clap.with_extension("vst3");
    let tmp_dir = tempfile::tempdir().unwrap();
    // The plugin reports canonical paths.
    let tmp = fs::canonicalize(tmp_dir.path()).unwrap();
    let tmp = tmp.as_path();
    let home = tmp.join("home");
    fs::create_dir_all(&home).unwrap();
    // SAFETY: set before any plugin (or other thread of this test binary) reads them.
    unsafe {
        for var in [
            "RECUT_POLICY",
            "ORT_DYLIB_PATH",
            "XDG_CACHE_HOME",
            "XDG_DATA_HOME",
            "RECUT_PROVIDER",
        ] {
            std::env::remove_var(var);
        }
        std::env::set_var("HOME", &home);
    }
    // A one-minute song as a file (the session's song).
    let [l, r] = song();
    let wav = tmp.join("song.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..RATE as usize * 60 {
        w.write_sample(l[i]).unwrap();
        w.write_sample(r[i]).unwrap();
    }
    w.finalize().unwrap();

    // Recut.clap alone: the embedded policy, the embedded runtime written to ~/.cache.
    let lone = tmp.join("clap");
    fs::create_dir_all(&lone).unwrap();
    let lone_clap = lone.join("Recut.clap");
    fs::copy(&clap, &lone_clap).unwrap();
    let s = candidates_from(&lone_clap, &wav);
    let note = s["policy"].as_str().unwrap();
    println!("Recut.clap alone: {note}");
    shipped_version(note);
    assert!(note.contains("model embedded in the plugin"), "{note}");
    let cache = home.join(".cache/recut/runtime");
    assert!(
        note.contains("ONNX Runtime embedded, extracted to the cache")
            && note.contains(&cache.display().to_string()),
        "{note}"
    );
    let extracted: Vec<PathBuf> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path().join("libonnxruntime.so.1.31.1"))
        .collect();
    assert_eq!(extracted.len(), 1, "{extracted:?}");
    let runtime = fs::read(&extracted[0]).unwrap();
    let shipped =
        fs::read(support::clap_host::root().join(".deps/onnxruntime/libonnxruntime.so.1.31.1"))
            .unwrap();
    assert!(
        runtime == shipped,
        "the extracted runtime is not ONNX Runtime 1.31.1"
    );
    let key = extracted[0]
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "cache folder keyed by the runtime's blake3 (hex): {key}"
    );
    assert!(
        fs::read_dir(&lone).unwrap().count() == 1,
        "the .clap needs nothing beside it"
    );

    // Recut.vst3 alone: its layout, and its library uses the files beside it.
    let lone_vst3 = tmp.join("vst3").join("Recut.vst3");
    copy_dir(&vst3, &lone_vst3);
    let lib_dir = lone_vst3.join("Contents/x86_64-linux");
    let models = lone_vst3.join("Contents/Resources/models");
    for f in [
        lib_dir.join("Recut.so"),
        lib_dir.join("libonnxruntime.so.1.31.1"),
        models.join("policy.onnx"),
        models.join("reward.onnx"),
        models.join("MODEL_CARD_policy.md"),
        models.join("MODEL_CARD_reward.md"),
    ] {
        assert!(f.is_file(), "{} missing from the VST3 bundle", f.display());
    }
    let s = candidates_from(&lib_dir.join("Recut.so"), &wav);
    let note = s["policy"].as_str().unwrap();
    println!("Recut.vst3 alone: {note}");
    shipped_version(note);
    assert!(
        note.contains(&format!(
            "model in the bundle ({})",
            models.join("policy.onnx").display()
        )),
        "{note}"
    );
    assert!(
        note.contains("ONNX Runtime beside the plugin")
            && note.contains(
                &lib_dir
                    .join("libonnxruntime.so.1.31.1")
                    .display()
                    .to_string()
            ),
        "{note}"
    );
}
