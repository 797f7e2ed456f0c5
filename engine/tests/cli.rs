//! The `recut` command line: `recut analyze` flags, outputs and errors. Every run gets its
//! own `RECUT_CACHE_DIR` in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use recut_engine::analysis::FEATURE_TABLE;
use recut_engine::audio::{Audio, WavFormat, write_wav};

/// A 20 s, 120 BPM metronome (accented every 4th click) at 22.05 kHz.
fn click_song(dir: &Path) -> PathBuf {
    let sr = 22_050u32;
    let mut buf = vec![0.0f32; 20 * sr as usize];
    let mut k = 0;
    loop {
        let start = ((0.5 + 0.5 * f64::from(k)) * f64::from(sr)) as usize;
        if start + 700 >= buf.len() {
            break;
        }
        let (f, amp) = if k % 4 == 0 {
            (1500.0, 0.8)
        } else {
            (1000.0, 0.4)
        };
        for i in 0..660 {
            let t = i as f64 / f64::from(sr);
            buf[start + i] +=
                (amp * (std::f64::consts::TAU * f * t).sin() * (-t / 0.006).exp()) as f32;
        }
        k += 1;
    }
    let path = dir.join("clicks.wav");
    write_wav(
        &path,
        &Audio {
            sample_rate: sr,
            channels: vec![buf],
        },
        WavFormat::Int16,
    )
    .unwrap();
    path
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    fn recut(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_recut"))
            .args(args)
            .env("RECUT_CACHE_DIR", self.cache())
            .output()
            .expect("run recut")
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.recut(args);
        assert!(
            out.status.success(),
            "recut {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn features_doc_lists_every_group() {
    let env = Env::new();
    let out = env.ok(&["analyze", "--features-doc"]);
    for g in FEATURE_TABLE.iter() {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(g.name))
            .unwrap_or_else(|| panic!("group {} missing:\n{out}", g.name));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], g.offset.to_string(), "{line}");
        assert_eq!(cols[2], g.len.to_string(), "{line}");
    }
}

#[test]
fn beats_out_writes_one_time_a_line() {
    let env = Env::new();
    let song = click_song(env.dir.path());
    let beats = env.dir.path().join("beats.txt");
    let downbeats = env.dir.path().join("downbeats.txt");
    env.ok(&[
        "analyze",
        s(&song),
        "--beats-out",
        s(&beats),
        "--downbeats-out",
        s(&downbeats),
    ]);
    let parse = |p: &Path| -> Vec<f64> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                l.trim()
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("bad line {l:?}"))
            })
            .collect()
    };
    let b = parse(&beats);
    assert!(
        b.len() >= 36 && b.len() <= 40,
        "{} beats for 39 clicks",
        b.len()
    );
    assert!(b.windows(2).all(|w| w[1] > w[0]));
    assert!(
        b.iter()
            .all(|t| (t - 0.5) / 0.5 - ((t - 0.5) / 0.5).round() < 0.1),
        "beats on the clicks: {b:?}"
    );
    let d = parse(&downbeats);
    assert!(!d.is_empty() && d.iter().all(|t| b.contains(t)));
}

#[test]
fn json_output_parses() {
    let env = Env::new();
    let song = click_song(env.dir.path());
    let out = env.ok(&["analyze", s(&song), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is JSON only");
    let a: recut_engine::Analysis = serde_json::from_value(v).expect("an Analysis");
    assert!((a.tempo_bpm - 120.0).abs() < 3.0, "{}", a.tempo_bpm);
    assert_eq!(a.features.len(), a.beats.len());
    // --json FILE writes the same analysis there.
    let file = env.dir.path().join("a.json");
    env.ok(&["analyze", s(&song), "--json", s(&file)]);
    let b: recut_engine::Analysis = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    // The same analysis (f64 fields may differ in the last bit after the cache's JSON).
    assert_eq!(
        (a.beats.len(), &a.downbeats, &a.phrases, a.meter),
        (b.beats.len(), &b.downbeats, &b.phrases, b.meter)
    );
    assert!(
        (a.tempo_bpm - b.tempo_bpm).abs() < 1e-9
            && a.beats
                .iter()
                .zip(&b.beats)
                .all(|(x, y)| (x - y).abs() < 1e-9)
    );
}

#[test]
fn corrections_reach_the_output() {
    let env = Env::new();
    let song = click_song(env.dir.path());
    let a: recut_engine::Analysis = serde_json::from_str(&env.ok(&[
        "analyze",
        s(&song),
        "--json",
        "--meter",
        "3",
        "--first-downbeat",
        "2",
    ]))
    .unwrap();
    assert_eq!(a.meter.beats_per_bar, 3);
    assert!(a.downbeats.contains(&2) && a.downbeats.windows(2).all(|w| w[1] - w[0] == 3));
    let h: recut_engine::Analysis =
        serde_json::from_str(&env.ok(&["analyze", s(&song), "--json", "--half-tempo"])).unwrap();
    assert!((h.tempo_bpm - 60.0).abs() < 3.0, "{}", h.tempo_bpm);
    let sh: recut_engine::Analysis =
        serde_json::from_str(&env.ok(&["analyze", s(&song), "--json", "--shift-downbeat", "-1"]))
            .unwrap();
    assert_eq!(sh.corrections.downbeat_shift, -1);
    let out = env.recut(&["analyze", s(&song), "--half-tempo", "--double-tempo"]);
    assert!(
        !out.status.success(),
        "--half-tempo with --double-tempo must be refused"
    );
    let out = env.recut(&["analyze", s(&song), "--first-downbeat", "100000"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("100000"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn second_run_is_cached_and_no_cache_writes_nothing() {
    let env = Env::new();
    let song = click_song(env.dir.path());
    let first = env.ok(&["analyze", s(&song)]);
    assert!(!first.contains("(cached)"), "{first}");
    let second = env.ok(&["analyze", s(&song)]);
    assert!(second.contains("(cached)"), "{second}");
    let env2 = Env::new();
    let song2 = click_song(env2.dir.path());
    env2.ok(&["analyze", s(&song2), "--no-cache"]);
    assert!(
        !env2.cache().exists() || std::fs::read_dir(env2.cache()).unwrap().next().is_none(),
        "--no-cache wrote to the cache"
    );
}

#[test]
fn missing_file_fails_naming_it() {
    let env = Env::new();
    let missing = env.dir.path().join("nowhere-song.flac");
    let out = env.recut(&["analyze", s(&missing)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere-song.flac"), "{err}");
}

#[test]
fn bad_file_fails_with_a_message() {
    let env = Env::new();
    let path = env.dir.path().join("notes.wav");
    std::fs::write(&path, "not audio").unwrap();
    let out = env.recut(&["analyze", s(&path)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notes.wav") && err.contains("not a supported audio file"),
        "{err}"
    );
}

#[test]
fn plot_writes_a_png() {
    let env = Env::new();
    let song = click_song(env.dir.path());
    let png = env.dir.path().join("grid.png");
    env.ok(&["analyze", s(&song), "--plot", s(&png)]);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn analyze_help_mentions_every_flag() {
    let env = Env::new();
    let help = env.ok(&["analyze", "--help"]);
    for flag in [
        "--beats-out",
        "--downbeats-out",
        "--json",
        "--plot",
        "--no-cache",
        "--half-tempo",
        "--double-tempo",
        "--meter",
        "--first-downbeat",
        "--shift-downbeat",
        "--features-doc",
    ] {
        assert!(help.contains(flag), "analyze --help lacks {flag}:\n{help}");
    }
}

#[test]
fn no_song_is_a_usage_error() {
    let env = Env::new();
    let out = env.recut(&["analyze"]);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");
}
