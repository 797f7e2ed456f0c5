//! `demo`, `test`, `bench` and `bundle`: thin sequences of setup, builds and runs.

use crate::BenchArgs;
use crate::paths;
use crate::run::{self, cargo};
use crate::setup;
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Audio formats the demo folder may hold.
const AUDIO_EXTENSIONS: &[&str] = &["ogg", "flac", "wav", "mp3"];

/// `cargo xtask demo`: analyse the shipped demo song, so a new user sees Recut work in one command.
pub fn demo() -> Result<()> {
    setup::setup_if_needed()?;
    let recut = build_recut()?;
    let song = demo_song()?;
    let out = paths::target_dir().join("demo");
    fs::create_dir_all(&out)?;
    run::run(
        Command::new(&recut)
            .arg("analyze")
            .arg(&song)
            .arg("--json")
            .arg(out.join("analysis.json"))
            .arg("--beats-out")
            .arg(out.join("beats.txt"))
            .arg("--downbeats-out")
            .arg(out.join("downbeats.txt"))
            .arg("--plot")
            .arg(out.join("analysis.png")),
    )?;
    // A radio edit at 2:30 with its picture, then the rating candidates (seed workflow).
    run::run(
        Command::new(&recut)
            .arg("edit")
            .arg(&song)
            .args(["--target", DEMO_TARGET])
            .arg("--out")
            .arg(out.join("edit.wav"))
            .arg("--plan-out")
            .arg(out.join("edit.plan.json"))
            .arg("--plot")
            .arg(out.join("edit.png")),
    )?;
    run::run(
        Command::new(&recut)
            .arg("candidates")
            .arg("--songs")
            .arg(&song)
            .arg("--out")
            .arg(out.join("candidates")),
    )?;
    println!("demo song:  {}", song.display());
    for name in [
        "analysis.json",
        "beats.txt",
        "downbeats.txt",
        "analysis.png",
        "edit.wav",
        "edit.plan.json",
        "edit.png",
        "candidates/manifest.json",
    ] {
        println!("wrote:      {}", out.join(name).display());
    }
    Ok(())
}

/// Length of the demo's radio edit (the song is 3:45).
const DEMO_TARGET: &str = "2:30";

/// The one audio file in `assets/demo/`.
fn demo_song() -> Result<PathBuf> {
    let dir = paths::repo_root().join("assets/demo");
    let mut songs: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| has_audio_extension(p))
        .collect();
    songs.sort();
    match songs.len() {
        0 => bail!(
            "no audio file ({}) in {}",
            AUDIO_EXTENSIONS.join(", "),
            dir.display()
        ),
        1 => Ok(songs.remove(0)),
        n => bail!("{n} audio files in {}, expected one", dir.display()),
    }
}

fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `cargo xtask test`: what CI runs. Setup, corpus, the plugin bundle, then every crate's
/// tests in release.
pub fn test() -> Result<()> {
    setup::setup_if_needed()?;
    fetch_corpus()?;
    // The host tests load the bundle: build it fresh so they never test a stale one.
    bundle(vec!["recut-plugin".into(), "--release".into()])?;
    run::run(cargo().args(["test", "--workspace", "--release", "--no-fail-fast"]))
}

/// Materialises the test corpus (a fast no-op when present); the script honours `RECUT_CORPUS`.
fn fetch_corpus() -> Result<()> {
    run::run(&mut run::script(&paths::shared_dir().join("corpus/fetch"))?)
}

/// Builds the release `recut` CLI and returns its absolute path.
fn build_recut() -> Result<PathBuf> {
    run::run(cargo().args(["build", "--release", "-p", "recut-engine", "--bin", "recut"]))?;
    Ok(paths::target_dir().join("release/recut"))
}

/// `cargo xtask bench`: beat accuracy against peer trackers, then speed. Figures go to
/// `target/bench/*.json` so runs can be compared.
pub fn bench(args: &BenchArgs) -> Result<()> {
    setup::setup_if_needed()?;
    fetch_corpus()?;
    let python = beat_eval_python()?;
    let recut = build_recut()?;
    let out = paths::target_dir().join("bench");
    fs::create_dir_all(&out)?;
    accuracy_bench(&python, &recut, args, &out.join("beats.json"))?;
    speed_bench(&recut, &out.join("speed.json"))
}

/// The beat-eval venv's python, creating the venv first when it is missing.
fn beat_eval_python() -> Result<PathBuf> {
    let tool = paths::shared_dir().join("tools/beat-eval");
    let python = tool.join(".venv/bin/python");
    if !python.exists() {
        run::run(&mut run::script(&tool.join("setup"))?)?;
    }
    Ok(python)
}

/// Peer trackers `eval_beats.py` compares against; `--quick` keeps the fast ones.
fn peers(quick: bool) -> &'static str {
    if quick {
        "essentia,librosa"
    } else {
        "essentia,librosa,madmom,madmom-downbeat"
    }
}

/// Runs `eval_beats.py` on `<corpus>/dev`; it prints the table and writes `json`.
fn accuracy_bench(python: &Path, recut: &Path, args: &BenchArgs, json: &Path) -> Result<()> {
    let tool = paths::shared_dir().join("tools/beat-eval/eval_beats.py");
    let cmd = format!(
        "recut={} analyze {{in}} --beats-out {{out}} --downbeats-out {{out_downbeats}}",
        recut.display()
    );
    let mut eval = Command::new(python);
    eval.arg(tool)
        .arg("--corpus")
        .arg(paths::corpus_dir().join("dev"))
        .arg("--cmd")
        .arg(cmd)
        .arg("--peers")
        .arg(peers(args.quick))
        .arg("--json")
        .arg(json);
    if let Some(filter) = &args.filter {
        eval.arg("--filter").arg(filter);
    }
    if let Some(limit) = args.limit {
        eval.arg("--limit").arg(limit.to_string());
    }
    run::run(&mut eval)?;
    println!("beat accuracy: {}", json.display());
    Ok(())
}

/// Times analysis on the full songs with `recut bench` (implemented in the engine's CLI).
fn speed_bench(recut: &Path, json: &Path) -> Result<()> {
    let songs = paths::corpus_dir().join("songs");
    for (command, out) in [("bench", json.to_owned()), ("bench-edit", json.with_file_name("edits.json"))] {
        let stdout = run::output(Command::new(recut).arg(command).arg("--json").arg(&out).arg(&songs))?;
        print!("{stdout}");
        println!("figures: {}", out.display());
    }
    Ok(())
}

/// `cargo xtask bundle <package> [--release]`: nice-plug-xtask builds and bundles
/// `.clap` / `.vst3` into `target/bundled`, named by `bundler.toml`.
pub fn bundle(args: Vec<String>) -> Result<()> {
    let args = std::iter::once("bundle".to_owned()).chain(args);
    nice_plug_xtask::main_with_args("cargo xtask", args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_extensions() {
        assert!(has_audio_extension(Path::new("a/song.OGG")));
        assert!(has_audio_extension(Path::new("song.flac")));
        assert!(!has_audio_extension(Path::new("LICENSE.md")));
        assert!(!has_audio_extension(Path::new("ogg")));
    }

    #[test]
    fn quick_bench_uses_fast_peers_only() {
        assert_eq!(peers(true), "essentia,librosa");
        assert!(peers(false).contains("madmom-downbeat"));
    }
}
