//! The `recut-trainer` binary: `reward` on simulated pairs writes a loadable reward.onnx,
//! a checkpoint (beside `--out` unless told) and the history; `export` rewrites a
//! checkpoint and a fresh policy; `policy` writes a fine-tuned policy only when it beat
//! the reference, if asked to.

mod common;

use std::path::Path;

use common::{check, trainer};

#[test]
fn reward_then_export() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p);
    let out = trainer()
        .args(["reward", "--pairs-from-taste", "opening", "--songs"])
        .arg(common::corpus_dir())
        .args([
            "--max-songs",
            "2",
            "--max-beats",
            "64",
            "--n-pairs",
            "40",
            "--arch",
            "mlp",
            "--epochs",
            "2",
            "--val-fraction",
            "0.5",
        ])
        .arg("--out")
        .arg(d("models/reward.onnx"))
        .arg("--checkpoint")
        .arg(d("models/reward.safetensors"))
        .arg("--history")
        .arg(d("logs/training_history.json"))
        .arg("--report")
        .arg(d("reward.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout {stdout}\nstderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("val accuracy"), "{stdout}");
    let model = recut_engine::RewardModel::load(d("models/reward.onnx")).unwrap();
    assert_eq!(model.info().architecture.as_deref(), Some("reward-mlp-16"));
    assert!(model.info().trained_on.as_deref().unwrap().ends_with(":40"));
    let version = model.info().model_version.clone();
    assert!(version.starts_with("reward-"), "{version}");
    let hist: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d("logs/training_history.json")).unwrap())
            .unwrap();
    assert_eq!(hist["train_loss"].as_array().unwrap().len(), 2);
    // The figures `cargo xtask bench` reads: the kept epoch's accuracy beside the simulated
    // rater's ceiling on the same validation pairs, and the time to that epoch.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d("reward.json")).unwrap()).unwrap();
    assert_eq!(report["model_version"].as_str(), Some(version.as_str()));
    assert_eq!(report["pairs"].as_u64(), Some(40));
    let (acc, ceiling) = (
        report["val_accuracy"].as_f64().unwrap(),
        report["ceiling"].as_f64().unwrap(),
    );
    assert!(
        (0.0..=1.0).contains(&acc) && (0.5..=1.0).contains(&ceiling),
        "{report}"
    );
    let (to_best, total) = (
        report["seconds_to_best"].as_f64().unwrap(),
        report["seconds"].as_f64().unwrap(),
    );
    assert!(to_best > 0.0 && to_best <= total, "{report}");
    let best = report["best_epoch"].as_u64().unwrap();
    assert!((1..=2).contains(&best), "{report}");
    // Without the lasso every descriptor entry is in use.
    assert_eq!(
        report["inputs_in_use"].as_array().map(Vec::len),
        Some(recut_trainer::model::summary::SUMMARY_DIM as usize),
        "{report}"
    );

    // Fine-tune v2 from v1: the parent is v1's version.
    let v1_weights = std::fs::read(d("models/reward.safetensors")).unwrap();
    let out = trainer()
        .args(["reward", "--pairs-from-taste", "opening", "--songs"])
        .arg(common::corpus_dir())
        .args([
            "--max-songs",
            "2",
            "--max-beats",
            "64",
            "--n-pairs",
            "20",
            "--epochs",
            "1",
            "--seed",
            "3",
            // Strong enough to drop entries within one epoch of one step (lr 1e-3).
            "--input-lasso",
            "1000",
        ])
        .arg("--from")
        .arg(d("models/reward.safetensors"))
        .arg("--out")
        .arg(d("models/reward_v2.onnx"))
        .arg("--history")
        .arg(d("logs/h2.json"))
        // Without --checkpoint the weights go beside --out, not to `models/` of the
        // working folder, which here holds v1's checkpoint.
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let used: usize = stdout
        .split("uses ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'uses N of 43 descriptor entries' line: {stdout}"));
    assert!(used < 43, "{stdout}");
    assert!(
        d("models/reward_v2.safetensors").is_file(),
        "no checkpoint beside --out"
    );
    assert_eq!(
        std::fs::read(d("models/reward.safetensors")).unwrap(),
        v1_weights,
        "v1's checkpoint was overwritten"
    );
    let v2 = recut_engine::RewardModel::load(d("models/reward_v2.onnx")).unwrap();
    assert_eq!(v2.info().parent.as_deref(), Some(version.as_str()));

    let out = trainer()
        .args(["export", "--checkpoint"])
        .arg(d("models/reward.safetensors"))
        .arg("--out")
        .arg(d("again.onnx"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        recut_engine::RewardModel::load(d("again.onnx"))
            .unwrap()
            .info()
            .model_version,
        version
    );

    let out = trainer()
        .args([
            "export",
            "--kind",
            "policy",
            "--random-init",
            "--model-version",
            "policy-random",
            "--out",
        ])
        .arg(d("policy.onnx"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = recut_engine::PolicyModel::load(d("policy.onnx")).unwrap();
    assert_eq!(p.info().model_version, "policy-random");
}

/// `policy --algorithm dpo|ppo` with a learning rate of 0 gives back the reference, which
/// ties it on every held-out comparison (win rate ½, not a win): with `--only-if-better`
/// neither the checkpoint nor the ONNX model is written and the report says so; without
/// it both are, and the model carries the algorithm's version and the reference as parent.
#[test]
fn policy_writes_a_model_that_did_not_beat_the_reference_only_when_not_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p);
    let songs = common::three_songs(dir.path());
    let small = [
        "--held-out",
        "1",
        "--layers",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
    ];
    let policy = |algorithm: &str| {
        let mut c = trainer();
        c.args(["policy", "--algorithm", algorithm, "--songs"])
            .arg(&songs)
            .args(small)
            .arg("--history")
            .arg(d(&format!("logs/{algorithm}.json")))
            .arg("--log")
            .arg(d(&format!("logs/{algorithm}.log")))
            .arg("--plot")
            .arg(d(&format!("logs/{algorithm}.png")));
        c
    };
    check(
        &policy("bc")
            .args(["--steps", "5", "--plans-per-song", "2", "--checkpoint"])
            .arg(d("ref.safetensors"))
            .arg("--out")
            .arg(d("ref.onnx"))
            .output()
            .unwrap(),
    );
    let tuned = |algorithm: &str, only_if_better: bool| -> (String, serde_json::Value) {
        let name = format!("{algorithm}-{only_if_better}");
        let mut c = policy(algorithm);
        c.args(["--steps", "1", "--lr", "0", "--from"])
            .arg(d("ref.safetensors"))
            .args([
                "--n-pairs",
                "8",
                "--rollouts-per-step",
                "4",
                "--eval-plans",
                "2",
            ])
            .arg("--checkpoint")
            .arg(d(&format!("{name}.safetensors")))
            .arg("--out")
            .arg(d(&format!("{name}.onnx")))
            .arg("--report")
            .arg(d(&format!("reports/{name}.json")));
        if only_if_better {
            c.arg("--only-if-better");
        }
        let stdout = check(&c.output().unwrap());
        let report = std::fs::read_to_string(d(&format!("reports/{name}.json"))).unwrap();
        (stdout, serde_json::from_str(&report).unwrap())
    };
    for algorithm in ["dpo", "ppo"] {
        let (stdout, r) = tuned(algorithm, true);
        assert_eq!(r["win_rate"], 0.5, "{r}");
        assert_eq!(r["exported"], false, "{r}");
        assert!(
            stdout.contains(&format!("{algorithm} did not beat the reference")),
            "{stdout}"
        );
        for ext in ["onnx", "safetensors"] {
            let kept = d(&format!("{algorithm}-true.{ext}"));
            assert!(!Path::exists(&kept), "{}", kept.display());
        }

        let (stdout, r) = tuned(algorithm, false);
        assert_eq!(r["exported"], true, "{r}");
        let out = d(&format!("{algorithm}-false.onnx"));
        assert!(
            stdout.contains(&format!("wrote {}", out.display())),
            "{stdout}"
        );
        assert!(d(&format!("{algorithm}-false.safetensors")).exists());
        let info = recut_engine::PolicyModel::load(&out)
            .unwrap()
            .info()
            .clone();
        assert!(
            info.model_version
                .starts_with(&format!("policy-{algorithm}-")),
            "{info:?}"
        );
        assert_eq!(
            info.parent.as_deref(),
            Some(d("ref.safetensors").to_str().unwrap()),
            "{info:?}"
        );
    }
}
