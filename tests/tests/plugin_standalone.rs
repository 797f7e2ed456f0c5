//! The standalone build (nice-plug's `standalone` feature): Recut without a DAW.
//! `cargo xtask test` builds `target/release/recut-standalone` before the tests run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the headless standalone must keep running to count as up, seconds.
const RUN_S: u64 = 3;

fn standalone() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let path = target.join("release").join("recut-standalone");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p recut-plugin --features standalone --bin recut-standalone` (cargo xtask test does)",
        path.display()
    );
    path
}

#[test]
fn standalone_explains_its_options() {
    let out = Command::new(standalone())
        .arg("--help")
        .output()
        .expect("running recut-standalone --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for option in ["--backend", "--sample-rate", "--period-size"] {
        assert!(
            text.contains(option),
            "{option} missing from --help:\n{text}"
        );
    }
}

/// With the dummy audio backend and no display, the standalone runs the plugin (process
/// loop, worker thread) until stopped, instead of exiting with an error.
#[test]
fn standalone_runs_headless_on_the_dummy_backend() {
    let mut child = Command::new(standalone())
        .args(["--backend", "dummy"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting recut-standalone");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(RUN_S) {
        if let Some(status) = child.try_wait().expect("polling recut-standalone") {
            let out = child.wait_with_output().expect("collecting output");
            panic!(
                "recut-standalone exited early with {status}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("stopping recut-standalone");
    let _ = child.wait();
}
