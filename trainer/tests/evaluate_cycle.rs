//! `recut-trainer evaluate` writes `test_results.json` and old/new WAV pairs per song;
//! `reward --ratings` trains on a ratings file; `cycle` runs end to end on a few short
//! songs and keeps versions and lineage.

mod common;

use std::path::{Path, PathBuf};

use common::{check, songs_dir, three_songs, trainer};
use recut_trainer::model::PolicyNet;

fn shipped_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/policy.onnx")
}

#[test]
fn evaluate_writes_results_and_wav_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let songs = songs_dir(dir.path(), &["lincity_van_herk_city_blues.ogg"]);
    let out = dir.path().join("policy_test_output");
    let stdout = check(
        &trainer()
            .args(["evaluate", "--old", "baseline", "--new"])
            .arg(shipped_policy())
            .arg("--songs")
            .arg(&songs)
            .args(["--rater", "energetic", "--plans", "3", "--out"])
            .arg(&out)
            .output()
            .unwrap(),
    );
    assert!(
        stdout.contains("judged by simulated rater `energetic`"),
        "{stdout}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("test_results.json")).unwrap())
            .unwrap();
    assert_eq!(r["old"]["model_version"], "baseline");
    let song = &r["songs"][0];
    assert_eq!(song["song_id"], "lincity_van_herk_city_blues");
    assert_eq!(song["comparisons"], 3);
    let win = song["win_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&win));
    // Keep ratio, duration and splices of both policies; edits near the 0.75 target.
    let dur = song["duration_s"].as_f64().unwrap();
    for side in ["old", "new"] {
        let d = song[side]["duration_s"].as_f64().unwrap();
        assert!((d - 0.75 * dur).abs() < 3.0, "{side} {d} of {dur}");
        assert!(song[side]["keep_ratio"].as_f64().unwrap() > 0.5);
        assert!(song[side]["splices"].as_f64().is_some());
    }
    for wav in ["old.wav", "new.wav"] {
        let p = out.join("lincity_van_herk_city_blues").join(wav);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
            "{}",
            p.display()
        );
        // More than a header: at least a second of 16-bit stereo at 44.1 kHz.
        assert!(
            bytes.len() > 44 + 44_100 * 4,
            "{} is {} bytes",
            p.display(),
            bytes.len()
        );
    }
}

/// The headroom search tells the songs a new policy can win from those it can only tie:
/// the shipped policy cuts `lincity_van_herk_city_blues` to 75 % with every cut starting
/// and ending on a phrase start, so a `phrase_aware` rater is already as pleased as it can
/// be, while an `energetic` one would prefer louder bars kept.
#[test]
fn evaluate_reports_which_songs_leave_room_to_win() {
    let dir = tempfile::tempdir().unwrap();
    let songs = songs_dir(dir.path(), &["lincity_van_herk_city_blues.ogg"]);
    let run = |taste: &str, headroom: &str| -> serde_json::Value {
        let out = dir.path().join(format!("{taste}-{headroom}"));
        let stdout = check(
            &trainer()
                .args(["evaluate", "--old"])
                .arg(shipped_policy())
                .arg("--new")
                .arg(shipped_policy())
                .arg("--songs")
                .arg(&songs)
                .args(["--rater", taste, "--plans", "4", "--headroom", headroom])
                .arg("--no-wavs")
                .arg("--out")
                .arg(&out)
                .output()
                .unwrap(),
        );
        if headroom != "0" {
            assert!(stdout.contains("songs winnable"), "{stdout}");
        }
        serde_json::from_str(&std::fs::read_to_string(out.join("test_results.json")).unwrap())
            .unwrap()
    };
    let phrase = run("phrase_aware", "64");
    let song = &phrase["songs"][0];
    assert_eq!(song["ties"], 4, "{song}");
    assert_eq!(song["old_at_best"], 4, "{song}");
    assert_eq!(song["reachable_win_rate"], 0.5, "{song}");
    assert_eq!(phrase["songs_winnable"], 0, "{phrase}");
    let energetic = run("energetic", "64");
    let song = &energetic["songs"][0];
    assert!(song["old_at_best"].as_u64().unwrap() < 4, "{song}");
    assert!(song["reachable_win_rate"].as_f64().unwrap() > 0.5, "{song}");
    assert_eq!(energetic["songs_winnable"], 1, "{energetic}");
    let off = run("energetic", "0");
    assert!(off["songs_winnable"].is_null(), "{off}");
    assert!(off["songs"][0]["old_at_best"].is_null(), "{off}");
    // The compared edits do not depend on the search: same figures with it and without.
    assert_eq!(off["songs"][0]["old"], energetic["songs"][0]["old"]);
}

#[test]
fn evaluate_without_a_judge_reports_figures_only() {
    let dir = tempfile::tempdir().unwrap();
    let songs = songs_dir(dir.path(), &["lincity_van_herk_city_blues.ogg"]);
    let out = dir.path().join("o");
    let stdout = check(
        &trainer()
            .args([
                "evaluate",
                "--old",
                "baseline",
                "--new",
                "baseline",
                "--plans",
                "2",
                "--no-wavs",
                "--songs",
            ])
            .arg(&songs)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap(),
    );
    assert!(stdout.contains("no judge"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("test_results.json")).unwrap())
            .unwrap();
    assert!(r["win_rate"].is_null());
    // The same policy with the same seeds makes the same edits.
    assert_eq!(r["overall_old"], r["overall_new"]);
    assert!(!out.join("lincity_van_herk_city_blues").exists());
}

/// The budgets of the small cycles: three songs, one held out, 4 candidates a song, tiny
/// models.
const SMALL_CYCLE: &[&str] = &[
    "--held-out",
    "1",
    "--n-ratings",
    "30",
    "--temperatures",
    "0.1,0.4,0.7,1.0",
    "--bc-steps",
    "10",
    "--width",
    "16",
    "--layers",
    "1",
    "--reward-hidden",
    "16",
    "--reward-epochs",
    "2",
    "--reward-pairs",
    "8",
    "--window",
    "128",
    "--eval-plans",
    "2",
];

/// PPO: its history has one row per step, the kept policy is the
/// one that scored best on the training songs, and the report says which step that was.
#[test]
fn a_small_ppo_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let songs = three_songs(dir.path());
    // A mix other than the default 1, so that the rescaling is exercised.
    let mix = 1.5;
    let (stdout, r) = small_cycle(
        &songs,
        "ppo",
        dir.path(),
        "models",
        &["--policy-mix", &mix.to_string()],
    );
    let models = dir.path().join("models");
    assert!(stdout.contains("ppo policy"), "{stdout}");
    assert_eq!(r["algorithm"], "ppo", "{r}");
    let lineage: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("lineage.json")).unwrap())
            .unwrap();
    let policy = lineage["models"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(policy["kind"], "policy", "{lineage}");
    let figures = &policy["figures"];
    assert_eq!(figures["algorithm"], "ppo", "{figures}");
    let best = figures["training"]["ppo_best_step"].as_u64().unwrap();
    assert!(best <= 3, "{figures}");
    assert_eq!(figures["training"]["ppo_steps"], 3);
    // The timbre shift is on by default, and the lineage says by how much.
    assert_eq!(
        figures["feature_shift"],
        recut_trainer::cycle::CYCLE_FEATURE_SHIFT
    );
    // So is PPO's excerpt augmentation.
    assert_eq!(
        figures["ppo_excerpt"],
        recut_trainer::cycle::CYCLE_PPO_EXCERPT
    );
    // And the roll-back, with the steps it rolled back at (none or some of the 3).
    assert_eq!(
        figures["ppo_rollback"],
        recut_trainer::cycle::CYCLE_PPO_ROLLBACK
    );
    let rollbacks = figures["training"]["ppo_rollback_steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{figures}"));
    assert!(
        rollbacks
            .iter()
            .all(|s| s.as_u64().is_some_and(|s| (1..=3).contains(&s)))
    );
    let dir = PathBuf::from(r["dir"].as_str().unwrap());
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("training_history.json")).unwrap())
            .unwrap();
    assert_eq!(history["policy_loss"].as_array().unwrap().len(), 3);
    recut_engine::PolicyModel::load(dir.join("policy.onnx")).unwrap();

    // The kept policy is the reference plus `mix` times PPO's change (its best step).
    assert_eq!(figures["policy_mix"], mix, "{figures}");
    let load = |p: PathBuf| PolicyNet::load(&p, tch::Device::Cpu).unwrap();
    let reference = load(dir.join("reference.safetensors")).vs.variables();
    let best = load(dir.join("ppo").join(recut_trainer::ppo::BEST_FILE))
        .vs
        .variables();
    let kept = load(dir.join("policy.safetensors"));
    for (name, w) in kept.vs.variables() {
        let expected = &reference[&name] * (1.0 - mix) + &best[&name] * mix;
        let gap = f64::try_from((&w - expected).abs().max()).unwrap();
        assert!(gap < 1e-5, "{name}: {gap}");
    }
}

/// A PPO run in which no step beats the starting policy (here: a learning rate of 0, so
/// every step scores what step 0 did) hands the starting policy back, and the cycle says
/// so instead of reporting a fine-tuning: the report flags it, the kept weights are the
/// reference's, and old and new tie on every held-out comparison.
#[test]
fn a_ppo_cycle_that_beats_nothing_keeps_and_names_the_starting_policy() {
    let dir = tempfile::tempdir().unwrap();
    let songs = three_songs(dir.path());
    let report = dir.path().join("cycle.json");
    let o = trainer()
        .args(["cycle", "--taste", "tight", "--songs"])
        .arg(&songs)
        .args(SMALL_CYCLE)
        .args(["--ppo-steps", "2", "--ppo-rollouts", "8", "--ppo-lr", "0"])
        .args(["--algorithm", "ppo"])
        .arg("--out-dir")
        .arg(dir.path().join("models"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = check(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stdout.contains("ppo policy unchanged: no step scored above the starting one"),
        "{stdout}"
    );
    assert!(
        stderr.contains("so the new policy is the starting one"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("of the way from the reference to the fine-tuned ones"),
        "{stderr}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["policy_unchanged"], true, "{r}");
    let results = &r["results"];
    for song in results["songs"].as_array().unwrap() {
        assert_eq!(song["ties"], song["comparisons"], "{song}");
    }
    let cycle_dir = PathBuf::from(r["dir"].as_str().unwrap());
    let load = |p: PathBuf| PolicyNet::load(&p, tch::Device::Cpu).unwrap();
    let reference = load(cycle_dir.join("reference.safetensors")).vs.variables();
    for (name, w) in load(cycle_dir.join("policy.safetensors")).vs.variables() {
        let gap = f64::try_from((&w - &reference[&name]).abs().max()).unwrap();
        assert_eq!(gap, 0.0, "{name}");
    }
}

/// One small DPO cycle (three short songs, one held out, tiny budgets), then `stats` and
/// `reward --ratings` on the ratings it collected.
#[test]
fn a_small_cycle_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let songs = three_songs(dir.path());
    let models = dir.path().join("models");
    let stdout = check(
        &trainer()
            .args(["cycle", "--taste", "opening", "--songs"])
            .arg(&songs)
            .args(SMALL_CYCLE)
            .args(["--algorithm", "dpo", "--dpo-steps", "4"])
            .arg("--out-dir")
            .arg(&models)
            .output()
            .unwrap(),
    );
    assert!(
        stdout.contains("judged by simulated rater `opening`"),
        "{stdout}"
    );
    let lineage: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("lineage.json")).unwrap())
            .unwrap();
    let entries = lineage["models"].as_array().unwrap();
    // The behaviour-cloned reference, the reward model and the new policy.
    assert_eq!(entries.len(), 3, "{lineage}");
    let bc = entries[0]["model_version"].as_str().unwrap();
    assert!(bc.starts_with("policy-bc-"));
    assert_eq!(entries[1]["kind"], "reward");
    assert_eq!(entries[2]["kind"], "policy");
    assert_eq!(entries[2]["parent"], bc);
    let cycle_dir = PathBuf::from(entries[2]["onnx"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_owned();
    let policy = recut_engine::PolicyModel::load(cycle_dir.join("policy.onnx")).unwrap();
    assert_eq!(policy.info().parent.as_deref(), Some(bc));
    assert_eq!(
        Some(policy.info().model_version.as_str()),
        entries[2]["model_version"].as_str()
    );
    recut_engine::RewardModel::load(cycle_dir.join("reward.onnx")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cycle_dir.join("candidates/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["songs"].as_array().unwrap().len(), 2);
    // Candidates are plans only unless --candidate-wavs: no audio written, empty paths.
    for song in manifest["songs"].as_array().unwrap() {
        for c in song["candidates"].as_array().unwrap() {
            assert_eq!(c["path"], "", "{c}");
        }
        let id = song["song_id"].as_str().unwrap();
        assert!(!cycle_dir.join("candidates").join(id).exists());
    }
    let prefs = cycle_dir.join("preferences.json");
    let ratings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&prefs).unwrap()).unwrap();
    assert_eq!(
        ratings.as_array().unwrap().len(),
        12,
        "4 candidates: 6 pairs a song, 2 songs"
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cycle_dir.join("test_results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(results["songs"][0]["song_id"], "wesnoth_elvish_theme");
    assert!(
        cycle_dir
            .join("policy_test_output/wesnoth_elvish_theme/new.wav")
            .exists()
    );
    let history: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cycle_dir.join("training_history.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(history["policy_loss"].as_array().unwrap().len(), 4);
    assert_eq!(history["train_loss"].as_array().unwrap().len(), 2);

    // The store the cycle wrote is readable by `stats` (simulated rater, sides recorded).
    let stdout = check(
        &trainer()
            .arg("stats")
            .arg(cycle_dir.join("feedback"))
            .output()
            .unwrap(),
    );
    assert!(stdout.contains("12 ratings of 2 songs"), "{stdout}");
    assert!(stdout.contains("raters:     sim-opening 12"), "{stdout}");
    assert!(stdout.contains("position bias: left won"), "{stdout}");

    // `reward --ratings` trains on the exported preferences.
    let stdout = check(
        &trainer()
            .args(["reward", "--ratings"])
            .arg(&prefs)
            .arg("--songs")
            .arg(&songs)
            .args([
                "--arch",
                "mlp",
                "--hidden",
                "16",
                "--epochs",
                "2",
                "--val-fraction",
                "0.5",
            ])
            .arg("--out")
            .arg(dir.path().join("r.onnx"))
            .arg("--checkpoint")
            .arg(dir.path().join("r.safetensors"))
            .arg("--history")
            .arg(dir.path().join("h.json"))
            .output()
            .unwrap(),
    );
    assert!(stdout.contains("val accuracy"), "{stdout}");
    let r = recut_engine::RewardModel::load(dir.path().join("r.onnx")).unwrap();
    assert!(r.info().trained_on.as_deref().unwrap().ends_with(":12"));
}

#[test]
fn reward_needs_one_source_of_pairs() {
    let o = trainer()
        .args([
            "reward",
            "--songs",
            "x",
            "--ratings",
            "a.json",
            "--pairs-from-taste",
            "opening",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let o = trainer().args(["reward", "--songs", "x"]).output().unwrap();
    assert!(!o.status.success());
}

#[test]
fn input_lasso_is_refused_for_the_transformer() {
    let o = trainer()
        .args([
            "reward",
            "--songs",
            "x",
            "--pairs-from-taste",
            "opening",
            "--arch",
            "transformer",
            "--input-lasso",
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("--input-lasso applies to the MLP") && stderr.contains("transformer"),
        "{stderr}"
    );
}

/// A policy mix outside [0, 3], a negative timbre shift, an excerpt share outside
/// (0, 1] and a negative PPO roll-back drop are each refused before any work.
#[test]
fn bad_cycle_settings_are_refused_before_any_work() {
    for (flag, value, words) in [
        ("--policy-mix", "3.5", ["policy mix", "[0, 3]"]),
        ("--policy-mix", "-0.5", ["policy mix", "[0, 3]"]),
        ("--feature-shift", "-1", ["feature shift", "≥ 0"]),
        ("--ppo-excerpt", "0", ["excerpt share", "(0, 1]"]),
        ("--ppo-excerpt", "1.5", ["excerpt share", "(0, 1]"]),
        ("--ppo-rollback", "-0.5", ["roll-back drop", "≥ 0"]),
    ] {
        let out = tempfile::tempdir().unwrap();
        let o = trainer()
            .args(["cycle", "--songs", "no-such-folder", "--taste", "tight"])
            .arg(format!("{flag}={value}"))
            .arg("--out-dir")
            .arg(out.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flag} {value}");
        assert!(
            words.iter().all(|w| stderr.contains(w)) && stderr.contains(value),
            "{flag} {value}: {stderr}"
        );
        // Refused before the songs were looked at, and nothing was written.
        assert!(!stderr.contains("no-such-folder"), "{stderr}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }
}

/// Runs a small cycle (3 PPO or 4 DPO steps) of `songs` with `--algorithm algorithm`
/// into `dir/<name>`; returns its standard output and its report.
fn small_cycle(
    songs: &Path,
    algorithm: &str,
    dir: &Path,
    name: &str,
    extra: &[&str],
) -> (String, serde_json::Value) {
    let report = dir.join(format!("{name}.json"));
    let stdout = check(
        &trainer()
            .args(["cycle", "--taste", "tight", "--songs"])
            .arg(songs)
            .args(SMALL_CYCLE)
            .args([
                "--ppo-steps",
                "3",
                "--ppo-rollouts",
                "8",
                "--dpo-steps",
                "4",
            ])
            .args(extra)
            .args(["--algorithm", algorithm, "--out-dir"])
            .arg(dir.join(name))
            .arg("--report")
            .arg(&report)
            .output()
            .unwrap(),
    );
    let r = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (stdout, r)
}

/// `--reward-folds`: the cycle's reward model is its members merged into one MLP (hidden
/// = members × `--reward-hidden`) that exports and scores like any other, and the report
/// says how many there were; one model is the default.
#[test]
fn a_cycle_with_reward_folds_trains_a_merged_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let songs = three_songs(dir.path());
    // SMALL_CYCLE asks for 16 hidden units.
    let (_, r) = small_cycle(&songs, "ppo", dir.path(), "folds", &["--reward-folds", "2"]);
    // Two training songs (one held out): two folds of one song each.
    assert_eq!(r["reward_members"], 2, "{r}");
    let acc = r["reward_val_accuracy"]
        .as_f64()
        .expect("out-of-fold accuracy");
    assert!((0.0..=1.0).contains(&acc), "{r}");
    let cycle = PathBuf::from(r["dir"].as_str().unwrap());
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cycle.join("reward.safetensors.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["config"]["hidden"], 32, "{sidecar}");
    recut_engine::RewardModel::load(cycle.join("reward.onnx"))
        .expect("the merged ensemble exports as an ordinary reward model");
    let (_, single) = small_cycle(&songs, "ppo", dir.path(), "single", &[]);
    assert_eq!(single["reward_members"], 1, "{single}");
}

/// `--oracle-reward`: PPO trains against the simulated rater's own utility, and the report
/// says so; without a simulated rater, or without PPO, it is refused before any work.
#[test]
fn an_oracle_cycle_trains_against_the_rater_and_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let songs = three_songs(dir.path());
    let (_, r) = small_cycle(&songs, "ppo", dir.path(), "oracle", &["--oracle-reward"]);
    assert_eq!(r["oracle_reward"], true, "{r}");
    assert_eq!(r["algorithm"], "ppo", "{r}");
    // The plain cycle also carries PPO's excerpt augmentation (off by default) through to
    // the PPO step and the lineage.
    let (_, plain) = small_cycle(
        &songs,
        "ppo",
        dir.path(),
        "plain",
        &["--ppo-excerpt", "0.5"],
    );
    assert_eq!(plain["oracle_reward"], false, "{plain}");
    let lineage: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("plain").join("lineage.json")).unwrap(),
    )
    .unwrap();
    let policy = lineage["models"].as_array().unwrap().last().unwrap();
    assert_eq!(policy["figures"]["ppo_excerpt"], 0.5, "{policy}");

    let refused = |extra: &[&str], says: &[&str]| {
        let o = trainer()
            .args([
                "cycle",
                "--songs",
                "no-such-folder",
                "--oracle-reward",
                "--out-dir",
            ])
            .arg(dir.path().join("refused"))
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        for s in says {
            assert!(stderr.contains(s), "{s}: {stderr}");
        }
        assert!(
            !stderr.contains("no-such-folder"),
            "refused after looking for songs: {stderr}"
        );
    };
    refused(
        &["--taste", "tight", "--algorithm", "dpo"],
        &["oracle", "not dpo"],
    );
    refused(
        &["--ratings", "my-ratings.csv"],
        &["oracle", "--taste", "my-ratings.csv"],
    );
}

/// `--algorithm auto`: PPO and DPO fine-tune on the training songs but
/// `AUTO_SELECTION_SONGS`, the reward model judges both against the reference on those,
/// and the better one fine-tunes on every training song, which gives exactly the policy
/// a cycle run with it alone gives.
#[test]
fn an_auto_cycle_chooses_on_songs_its_trials_did_not_train_on() {
    let dir = tempfile::tempdir().unwrap();
    let songs = songs_dir(
        dir.path(),
        &[
            "hedgewars_freeway.ogg",
            "hedgewars_golf.ogg",
            "hedgewars_oriental.ogg",
            "hedgewars_pirate.ogg",
            "lincity_van_herk_city_blues.ogg",
            "wesnoth_elvish_theme.ogg",
        ],
    );
    let (_, auto) = small_cycle(&songs, "auto", dir.path(), "auto", &[]);
    let choice = &auto["algorithm_choice"];
    let names = |v: &serde_json::Value| -> Vec<String> {
        let mut n: Vec<String> = serde_json::from_value(v.clone()).unwrap();
        n.sort();
        n
    };
    let selection = names(&choice["selection_songs"]);
    // Five training songs leave room for one fold of three, whatever the default.
    assert_eq!(
        choice["folds"].as_array().map(Vec::len),
        Some(1),
        "{choice}"
    );
    assert_eq!(names(&choice["folds"][0]["selection_songs"]), selection);
    let trial = names(&choice["folds"][0]["trial_songs"]);
    assert_eq!(selection.len(), recut_trainer::cycle::AUTO_SELECTION_SONGS);
    assert_eq!(trial.len(), 2, "{choice}");
    assert!(selection.iter().all(|s| !trial.contains(s)), "{choice}");
    let mut both = [selection, trial].concat();
    both.sort();
    assert_eq!(both, names(&auto["train_songs"]), "{auto}");
    assert!(
        choice["judge"]
            .as_str()
            .unwrap()
            .starts_with("reward model"),
        "{choice}"
    );

    // The choice follows `auto_choice` from the figures the report gives.
    let figures = |k: &str| {
        let w = choice[k]["win_rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&w), "{choice}");
        let g = choice[k]["score_gain"].as_f64().unwrap();
        recut_trainer::cycle::TrialFigures {
            win_rate: w,
            score_gain: g,
        }
    };
    let chosen = recut_trainer::cycle::auto_choice(&figures("ppo"), &figures("dpo")).name();
    assert_eq!(choice["chosen"], chosen, "{choice}");
    assert_eq!(auto["algorithm"], chosen, "{auto}");

    let (_, alone) = small_cycle(&songs, chosen, dir.path(), "alone", &[]);
    assert!(alone["algorithm_choice"].is_null(), "{alone}");
    let load = |r: &serde_json::Value| {
        let d = PathBuf::from(r["dir"].as_str().unwrap());
        PolicyNet::load(&d.join("policy.safetensors"), tch::Device::Cpu).unwrap()
    };
    let alone_weights = load(&alone).vs.variables();
    for (name, w) in load(&auto).vs.variables() {
        let gap = f64::try_from((&w - &alone_weights[&name]).abs().max()).unwrap();
        assert!(gap < 1e-6, "{name}: {gap}");
    }
    assert_eq!(auto["results"]["win_rate"], alone["results"]["win_rate"]);
}

/// `auto` is the cycle's default; with too few training songs to hold two out it
/// fine-tunes with PPO, and the report holds no choice.
#[test]
fn an_auto_cycle_with_too_few_songs_runs_ppo() {
    let help = check(&trainer().args(["cycle", "--help"]).output().unwrap());
    assert!(help.contains("[default: auto]"), "{help}");
    let dir = tempfile::tempdir().unwrap();
    let songs = three_songs(dir.path());
    let (_, r) = small_cycle(&songs, "auto", dir.path(), "auto", &[]);
    assert_eq!(r["algorithm"], "ppo", "{r}");
    assert!(r["algorithm_choice"].is_null(), "{r}");
}

/// `auto`'s rule: PPO unless DPO's trial leads by at least `AUTO_DPO_LEAD` of the
/// comparisons on the selection songs while beating the reference, or both trials lose
/// fewer than `AUTO_DPO_LEAD` of them (where PPO's figures, inflated by optimising the
/// judge, must not decide) and DPO's score gain reaches `AUTO_DPO_CEILING_MIN_GAIN`, or
/// PPO's trial gains nothing over the reference (`AUTO_PPO_MIN_GAIN`) while DPO's gains
/// and beats the reference clearly.
#[test]
fn auto_keeps_ppo_unless_dpo_leads_clearly_or_both_are_at_the_ceiling() {
    use recut_trainer::cycle::{
        AUTO_DPO_CEILING_MIN_GAIN, AUTO_DPO_LEAD, AUTO_DPO_MIN_WIN_RATE, AUTO_PPO_MIN_GAIN,
        PolicyAlgorithm, TrialFigures, auto_choice,
    };
    let f = |win_rate, score_gain| TrialFigures {
        win_rate,
        score_gain,
    };
    let cases = [
        // PPO ahead, whatever DPO's score gain.
        ((0.8, 0.1), (0.6, 2.0), PolicyAlgorithm::Ppo),
        // DPO ahead by 3 of 16 comparisons: noise, PPO stays.
        ((0.5, 0.07), (0.6875, 0.1), PolicyAlgorithm::Ppo),
        // Equal below everything won: PPO.
        ((0.1875, -0.15), (0.1875, -0.41), PolicyAlgorithm::Ppo),
        // DPO ahead by exactly the lead, and far ahead.
        (
            (0.5, 0.1),
            (0.5 + AUTO_DPO_LEAD, -1.0),
            PolicyAlgorithm::Dpo,
        ),
        ((0.0625, -0.5), (0.6875, 0.17), PolicyAlgorithm::Dpo),
        // DPO far ahead but still losing to the reference (`tight` seed 21): no evidence
        // for DPO, PPO stays; at exactly half it still has not beaten the reference.
        ((0.0625, -0.155), (0.375, -0.072), PolicyAlgorithm::Ppo),
        (
            (0.0, -0.3),
            (AUTO_DPO_MIN_WIN_RATE, 0.0),
            PolicyAlgorithm::Ppo,
        ),
        // Just above half (`smooth` seed 48: 13.5 of 24) is within a standard error of
        // the reference: PPO; 14.5 of 24 clears it.
        ((0.25, -0.11), (0.5625, 0.03), PolicyAlgorithm::Ppo),
        ((0.0, -0.3), (14.5 / 24.0, 0.0), PolicyAlgorithm::Dpo),
        // Both win everything: DPO, though PPO's score gain is larger.
        ((1.0, 4.1), (1.0, 3.4), PolicyAlgorithm::Dpo),
        // Both at the ceiling, PPO ahead by 1 of 16 comparisons (`energetic` seed 8), DPO
        // ahead by 4.5 of 24, short of a lead (`energetic` seed 36): DPO.
        ((1.0, 1.319), (0.9375, 1.477), PolicyAlgorithm::Dpo),
        ((0.8125, 1.826), (1.0, 2.644), PolicyAlgorithm::Dpo),
        // Three comparisons lost, with ties as halves, is still the ceiling.
        ((1.0, 0.5), (0.78125, 0.9), PolicyAlgorithm::Dpo),
        // At the ceiling with a gain under the bar (`tight` seed 45, `phrase_aware` 36):
        // DPO barely moved in the judge's eyes, PPO; exactly at the bar, DPO.
        ((1.0, 0.199), (0.875, 0.134), PolicyAlgorithm::Ppo),
        ((1.0, 0.661), (0.792, 0.121), PolicyAlgorithm::Ppo),
        (
            (1.0, 0.2),
            (0.875, AUTO_DPO_CEILING_MIN_GAIN),
            PolicyAlgorithm::Dpo,
        ),
        // DPO loses 4 of 16 while PPO wins all: a real lead, PPO.
        ((1.0, 0.5), (1.0 - AUTO_DPO_LEAD, 2.0), PolicyAlgorithm::Ppo),
        // Only PPO at the ceiling (`energetic` seed 6): PPO.
        ((0.875, 0.4), (0.5, 0.3), PolicyAlgorithm::Ppo),
        // PPO's trial scores below the reference on average though it wins more than
        // half, DPO gains and clears the bar without a lead (`opening` seeds 87 and 92):
        // DPO.
        ((0.542, -0.600), (0.615, 0.3185), PolicyAlgorithm::Dpo),
        ((0.573, -0.487), (0.604, 0.154), PolicyAlgorithm::Dpo),
        // Exactly no gain is no gain; a gain just above it keeps PPO.
        ((0.55, AUTO_PPO_MIN_GAIN), (0.65, 0.2), PolicyAlgorithm::Dpo),
        (
            (0.55, AUTO_PPO_MIN_GAIN + 0.01),
            (0.65, 0.2),
            PolicyAlgorithm::Ppo,
        ),
        // PPO gains nothing, but DPO does not gain either, or does not clear the bar
        // (`smooth` seed 86, `phrase_aware` seed 86): PPO.
        (
            (0.55, -0.3),
            (0.65, AUTO_PPO_MIN_GAIN),
            PolicyAlgorithm::Ppo,
        ),
        ((0.406, -0.083), (0.521, 0.023), PolicyAlgorithm::Ppo),
        ((0.396, -0.031), (0.406, 0.128), PolicyAlgorithm::Ppo),
    ];
    for ((pw, pg), (dw, dg), want) in cases {
        assert_eq!(
            auto_choice(&f(pw, pg), &f(dw, dg)),
            want,
            "ppo {pw} / {pg}, dpo {dw} / {dg}"
        );
    }
}

/// `--auto-folds`: each fold judges its own three training songs, no song twice, and
/// trains on all the others; the first fold is the single fold's split, and the count is
/// capped where a fold would train on fewer than two songs.
#[test]
fn auto_folds_judge_disjoint_songs_and_train_on_the_rest() {
    use recut_trainer::cycle::{AUTO_MIN_SONGS, AUTO_SELECTION_SONGS, auto_fold_splits};
    let order = [5, 2, 7, 0, 3, 6, 1, 4];
    let two = auto_fold_splits(&order, 2);
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].held, [5, 2, 7]);
    assert_eq!(two[0].kept, [0, 1, 3, 4, 6]);
    assert_eq!(two[1].held, [0, 3, 6]);
    assert_eq!(two[1].kept, [1, 2, 4, 5, 7]);
    assert_eq!(auto_fold_splits(&order, 1), two[..1]);
    assert_eq!(auto_fold_splits(&order, 0), two[..1]);
    // Eight songs leave room for two folds of three that each train on two or more.
    assert_eq!(auto_fold_splits(&order, 8), two);
    for split in &two {
        assert_eq!(split.held.len(), AUTO_SELECTION_SONGS);
        assert_eq!(split.held.len() + split.kept.len(), order.len());
    }
    assert_eq!(auto_fold_splits(&order[..AUTO_MIN_SONGS], 3).len(), 1);
    assert!(auto_fold_splits(&order[..AUTO_MIN_SONGS - 1], 1).is_empty());
}
