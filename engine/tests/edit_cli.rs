//! The `recut edit / candidates / render` commands end to end.

use std::path::{Path, PathBuf};
use std::process::Command;

fn recut(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recut"));
    c.env("RECUT_CACHE_DIR", cache).env_remove("RUST_BACKTRACE");
    c
}

fn corpus_song(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/songs")
        .join(name);
    p.exists().then_some(p)
}

#[test]
fn help_is_available_for_every_new_command() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["edit", "candidates", "render"] {
        let out = recut(dir.path()).args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success(), "{cmd}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{cmd}: {text}");
    }
    let out = recut(dir.path()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["analyze", "bench", "edit", "candidates", "render"] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
    }
}

#[test]
fn edit_writes_audio_plan_and_picture_and_render_reproduces_it() {
    let Some(song) = corpus_song("hedgewars_oriental.ogg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (wav, plan, png) = (
        dir.path().join("e.wav"),
        dir.path().join("p.json"),
        dir.path().join("p.png"),
    );
    let out = recut(&cache)
        .arg("edit")
        .arg(&song)
        .args([
            "--target",
            "2:00",
            "--slack",
            "2",
            "--temperature",
            "0.3",
            "--seed",
            "1",
        ])
        .arg("--out")
        .arg(&wav)
        .arg("--plan-out")
        .arg(&plan)
        .arg("--plot")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = hound::WavReader::open(&wav).unwrap();
    let secs = r.duration() as f64 / f64::from(r.spec().sample_rate);
    assert!((secs - 120.0).abs() <= 2.0, "{secs}");
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(p["granularity"], "bar");
    let again = dir.path().join("again.wav");
    let out = recut(&cache)
        .args(["render", "--plan"])
        .arg(&plan)
        .arg("--song")
        .arg(&song)
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&wav).unwrap(), std::fs::read(&again).unwrap());
    // A target shorter than intro + ending is refused with the reason.
    let out = recut(&cache)
        .arg("edit")
        .arg(&song)
        .args(["--target", "5"])
        .arg("--out")
        .arg(dir.path().join("x.wav"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than what must be kept"));
}

#[test]
fn candidates_writes_the_manifest() {
    let Some(song) = corpus_song("lincity_pronobozo_lincity.ogg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("eval_outputs");
    let out = recut(&dir.path().join("cache"))
        .arg("candidates")
        .arg("--songs")
        .arg(&song)
        .args(["--temperatures", "0.2,0.8"])
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    let cands = m["songs"][0]["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2);
    assert_eq!(cands[1]["id"], "temp_0.8");
    assert!(out_dir.join(cands[0]["path"].as_str().unwrap()).exists());
}

/// A policy model that cannot be used is reported and the baseline policy takes over
/// (DESIGN.md: Recut stays usable without models).
#[test]
fn unusable_policy_falls_back_to_the_baseline_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let song = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo/hedgewars_freeway.ogg");
    let junk = dir.path().join("policy.onnx");
    std::fs::write(&junk, b"not a model").unwrap();
    let out_wav = dir.path().join("edit.wav");
    let out = recut(dir.path())
        .arg("edit")
        .arg(&song)
        .args(["--target", "2:30", "--policy"])
        .arg(&junk)
        .arg("--out")
        .arg(&out_wav)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("not a valid ONNX model") && stderr.contains("baseline policy"),
        "{stderr}"
    );
    assert!(out_wav.exists());
}
