//! The trainer's part of `cargo xtask bench`: issue 4's two targets, per built-in taste.
//!
//! 1. **Reward model**: `recut-trainer reward --pairs-from-taste T --arch mlp` on
//!    [`REWARD_PAIRS`] pairs of the corpus songs. Target: held-out pair accuracy within
//!    [`REWARD_GAP_TARGET`] of the rater's ceiling on the same pairs, and the best
//!    validation loss reached within [`REWARD_SECONDS_TARGET`].
//! 2. **Cycle**: `recut-trainer cycle --taste T` (candidates → [`CYCLE_RATINGS`] simulated
//!    ratings → reward → policy → evaluation on the held-out songs against the shipped
//!    default policy), with PPO and, unless `--quick`, DPO beside it, once per seed
//!    (`--trainer-seeds`: the seed draws the ratings, the reward model's split and start,
//!    and the policy's rollouts; with 4 held-out songs one song moves a taste by 25 points,
//!    so one seed is an anecdote). Target: the new policy wins at least
//!    [`SONGS_WON_TARGET`] of the held-out songs, judged by the taste, within
//!    [`CYCLE_SECONDS_TARGET`], for every seed.
//!
//! There is no peer to run beside these: the seed's prototype needed hours per cycle on a
//! GPU and aimed at 60 % of songs. Every run's own report stays under
//! `target/bench/trainer/`; the summary goes to `target/bench/trainer.json`.

use crate::paths;
use crate::run::{self, cargo};
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The built-in tastes of the simulated raters (`recut-trainer` `Taste::ALL`).
const TASTES: [&str; 5] = ["tight", "opening", "smooth", "energetic", "phrase_aware"];
/// Preference pairs of the reward-model target.
const REWARD_PAIRS: &str = "500";
/// Epochs of the reward-model run (the epoch with the lowest validation loss is kept).
const REWARD_EPOCHS: &str = "100";
/// Simulated ratings per cycle (the cycle's default, stated for the table).
const CYCLE_RATINGS: &str = "200";
/// Largest accepted distance of the reward model's accuracy under the ceiling (points).
const REWARD_GAP_TARGET: f64 = 0.05;
/// Seconds within which the reward model must reach its best validation loss.
const REWARD_SECONDS_TARGET: f64 = 60.0;
/// Share of held-out songs the new policy must win.
const SONGS_WON_TARGET: f64 = 0.75;
/// Seconds one whole cycle may take.
const CYCLE_SECONDS_TARGET: f64 = 300.0;

/// Runs both targets for every taste (the cycle once per seed `0..seeds`) and writes the
/// summary to `json`.
pub fn trainer_bench(quick: bool, seeds: u64, json_path: &Path) -> Result<()> {
    run::run(cargo().args(["build", "--release", "-p", "recut-trainer"]))?;
    let trainer = paths::target_dir().join("release/recut-trainer");
    let songs = paths::corpus_dir().join("songs");
    let work = json_path.with_extension("");
    // `auto` runs a trial of PPO and of DPO and then the chosen one, so its songs won are
    // those of one of the two columns beside it; the table says which it chose.
    let algorithms: &[&str] = if quick {
        &["ppo"]
    } else {
        &["ppo", "dpo", "auto"]
    };
    let mut rows = Vec::new();
    for taste in TASTES {
        let dir = work.join(taste);
        fs::create_dir_all(&dir)?;
        let reward = reward_run(&trainer, &songs, taste, &dir)?;
        let mut cycles = serde_json::Map::new();
        for &algorithm in algorithms {
            let runs = (0..seeds.max(1))
                .map(|seed| cycle_run(&trainer, &songs, taste, algorithm, seed, &dir))
                .collect::<Result<Vec<_>>>()?;
            cycles.insert(algorithm.to_owned(), Value::Array(runs));
        }
        rows.push(json!({ "taste": taste, "reward": reward, "cycle": cycles }));
    }
    let summary = json!({
        "targets": {
            "reward_gap_max": REWARD_GAP_TARGET,
            "reward_seconds_to_best_max": REWARD_SECONDS_TARGET,
            "reward_pairs": REWARD_PAIRS,
            "cycle_ratings": CYCLE_RATINGS,
            "songs_won_min": SONGS_WON_TARGET,
            "cycle_seconds_max": CYCLE_SECONDS_TARGET,
        },
        "tastes": rows,
    });
    print!("{}", table(&summary, algorithms));
    fs::write(json_path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("trainer figures: {}", json_path.display());
    Ok(())
}

/// A `recut-trainer` command run from the repository root (so relative paths such as the
/// cycle's starting `models/policy.safetensors` are the shipped ones, as a user's would be).
pub fn trainer_cmd(trainer: &Path) -> Command {
    let mut c = Command::new(trainer);
    c.current_dir(paths::repo_root());
    c
}

/// The reward-model target for `taste`; returns its report.
fn reward_run(trainer: &Path, songs: &Path, taste: &str, dir: &Path) -> Result<Value> {
    let report = dir.join("reward.json");
    run::run(
        trainer_cmd(trainer)
            .args(["reward", "--pairs-from-taste", taste, "--songs"])
            .arg(songs)
            .args(["--arch", "mlp", "--n-pairs", REWARD_PAIRS])
            .args(["--epochs", REWARD_EPOCHS])
            .arg("--checkpoint")
            .arg(dir.join("reward.safetensors"))
            .arg("--out")
            .arg(dir.join("reward.onnx"))
            .arg("--history")
            .arg(dir.join("reward_history.json"))
            .arg("--report")
            .arg(&report),
    )?;
    read_json(&report)
}

/// One cycle of `taste` with `algorithm` and `seed`; returns the cycle's report without
/// its per-song and per-step detail (that stays in the run's own file).
fn cycle_run(
    trainer: &Path,
    songs: &Path,
    taste: &str,
    algorithm: &str,
    seed: u64,
    dir: &Path,
) -> Result<Value> {
    let name = format!("{algorithm}_seed{seed}");
    let report = dir.join(format!("cycle_{name}.json"));
    run::run(
        trainer_cmd(trainer)
            .args(["cycle", "--taste", taste, "--algorithm", algorithm])
            .args(["--n-ratings", CYCLE_RATINGS, "--no-wavs", "--songs"])
            .arg(songs)
            .args(["--seed", &seed.to_string()])
            .arg("--out-dir")
            .arg(dir.join(format!("models_{name}")))
            .arg("--report")
            .arg(&report),
    )?;
    let r = read_json(&report)?;
    let results = &r["results"];
    Ok(json!({
        "seed": seed,
        "report": report,
        // The algorithm that fine-tuned the policy: `auto`'s choice.
        "algorithm": r["algorithm"],
        "held_out_songs": r["held_out_songs"],
        "songs_won": results["songs_won"],
        "songs_winnable": results["songs_winnable"],
        "song_win_share": results["song_win_share"],
        "win_rate": results["win_rate"],
        "score_old": results["overall_old"]["score"],
        "score_new": results["overall_new"]["score"],
        "rater_ceiling": r["rater_ceiling"],
        "reward_val_accuracy": r["reward_val_accuracy"],
        "seconds": r["seconds"]["total"],
    }))
}

/// A JSON file written by a run (a report), with the path in any error.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `x` with `digits` decimals, or `-` when it is missing.
fn num(x: &Value, digits: usize) -> String {
    fixed(x.as_f64(), digits)
}

/// `x` with `digits` decimals, or `-` when there is none.
fn fixed(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// `yes` / `NO` against a target, or `-` when a figure is missing.
fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

/// The side-by-side table of every taste.
fn table(summary: &Value, algorithms: &[&str]) -> String {
    let mut out = format!(
        "\nreward model on {REWARD_PAIRS} pairs (target: within {:.0} points of the ceiling, best epoch within {REWARD_SECONDS_TARGET:.0} s)\n",
        REWARD_GAP_TARGET * 100.0
    );
    out += &format!(
        "{:<14}{:>10}{:>10}{:>8}{:>13}{:>8}\n",
        "taste", "accuracy", "ceiling", "gap", "to best s", "met"
    );
    let rows = summary["tastes"].as_array().cloned().unwrap_or_default();
    for row in &rows {
        let r = &row["reward"];
        let gap = r["ceiling"]
            .as_f64()
            .zip(r["val_accuracy"].as_f64())
            .map(|(c, a)| c - a);
        let met = gap
            .zip(r["seconds_to_best"].as_f64())
            .map(|(g, s)| g <= REWARD_GAP_TARGET && s <= REWARD_SECONDS_TARGET);
        out += &format!(
            "{:<14}{:>10}{:>10}{:>8}{:>13}{:>8}\n",
            row["taste"].as_str().unwrap_or("?"),
            num(&r["val_accuracy"], 3),
            num(&r["ceiling"], 3),
            gap.map_or("-".into(), |g| format!("{:+.1}", -g * 100.0)),
            num(&r["seconds_to_best"], 1),
            verdict(met)
        );
    }
    for &algorithm in algorithms {
        out += &format!(
            "\ncycle, {} ({CYCLE_RATINGS} simulated ratings; songs won per seed, means over seeds, slowest run; target: new policy wins ≥ {:.0} % of held-out songs within {CYCLE_SECONDS_TARGET:.0} s, every seed)\n",
            algorithm.to_uppercase(),
            SONGS_WON_TARGET * 100.0
        );
        if algorithm == "auto" {
            out += "(p, d: auto fine-tuned with PPO, DPO)\n";
        }
        out += &format!(
            "{:<14}{:>16}{:>12}{:>10}{:>12}{:>18}{:>10}{:>6}\n",
            "taste",
            "songs won",
            "winnable",
            "win rate",
            "reward acc",
            "score old→new",
            "seconds",
            "met"
        );
        for row in &rows {
            let runs = row["cycle"][algorithm]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mean = |key: &str| {
                let v: Vec<f64> = runs.iter().filter_map(|c| c[key].as_f64()).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let met = (!runs.is_empty())
                .then(|| {
                    runs.iter().try_fold(true, |all, c| {
                        let (w, s) = (c["song_win_share"].as_f64()?, c["seconds"].as_f64()?);
                        Some(all && w >= SONGS_WON_TARGET && s <= CYCLE_SECONDS_TARGET)
                    })
                })
                .flatten();
            let won: Vec<String> = runs
                .iter()
                .map(|c| {
                    let n = c["held_out_songs"].as_array().map_or(0, Vec::len);
                    // `auto`: the first letter of the algorithm it chose (p, d).
                    let chosen = match c["algorithm"].as_str() {
                        Some(a) if a != algorithm => a.get(..1).unwrap_or(""),
                        _ => "",
                    };
                    format!("{}/{n}{chosen}", num(&c["songs_won"], 0))
                })
                .collect();
            // Songs where the headroom search found edits better than the old policy's
            // (`recut-trainer evaluate`): the most that can be won.
            let winnable: Vec<String> = runs.iter().map(|c| num(&c["songs_winnable"], 0)).collect();
            let slowest = runs
                .iter()
                .filter_map(|c| c["seconds"].as_f64())
                .reduce(f64::max);
            out += &format!(
                "{:<14}{:>16}{:>12}{:>10}{:>12}{:>18}{:>10}{:>6}\n",
                row["taste"].as_str().unwrap_or("?"),
                won.join(" "),
                winnable.join(" "),
                fixed(mean("win_rate"), 3),
                fixed(mean("reward_val_accuracy"), 3),
                format!(
                    "{}→{}",
                    fixed(mean("score_old"), 2),
                    fixed(mean("score_new"), 2)
                ),
                fixed(slowest, 1),
                verdict(met)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary as `trainer_bench` writes it, with one taste meeting every target and one
    /// missing the cycle target.
    fn summary() -> Value {
        let cycle = |won: u64, share: f64| {
            json!({
                "held_out_songs": ["a", "b", "c", "d"],
                "songs_won": won,
                "songs_winnable": 3,
                "song_win_share": share,
                "win_rate": 0.6,
                "score_old": -0.5,
                "score_new": -0.4,
                "reward_val_accuracy": 0.8,
                "seconds": 61.0,
            })
        };
        let reward = json!({ "val_accuracy": 0.95, "ceiling": 0.97, "seconds_to_best": 3.0 });
        json!({ "tastes": [
            { "taste": "tight", "reward": reward, "cycle": { "ppo": [cycle(3, 0.75), cycle(2, 0.5)] } },
            { "taste": "smooth", "reward": reward, "cycle": { "ppo": [cycle(4, 1.0), cycle(3, 0.75)] } },
        ]})
    }

    #[test]
    fn table_states_each_target_per_taste() {
        let t = table(&summary(), &["ppo"]);
        let line = |taste: &str, section: usize| {
            t.split("\n\n")
                .nth(section)
                .and_then(|s| s.lines().find(|l| l.starts_with(taste)))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        assert!(line("tight", 0).contains("-2.0"), "{t}");
        assert!(line("tight", 0).ends_with("yes"), "{t}");
        assert!(line("tight", 1).contains("3/4 2/4"), "{t}");
        assert!(line("tight", 1).contains(" 3 3 "), "{t}");
        assert!(line("tight", 1).ends_with("NO"), "{t}");
        assert!(line("smooth", 1).contains("4/4 3/4"), "{t}");
        assert!(line("smooth", 1).ends_with("yes"), "{t}");
    }

    #[test]
    fn auto_runs_name_the_algorithm_they_chose() {
        let mut s = summary();
        let run = |won: u64, algorithm: &str| {
            json!({ "held_out_songs": ["a", "b", "c", "d"], "songs_won": won,
                    "song_win_share": won as f64 / 4.0, "seconds": 200.0, "algorithm": algorithm })
        };
        s["tastes"][0]["cycle"]["auto"] = json!([run(4, "dpo"), run(3, "ppo")]);
        let t = table(&s, &["ppo", "auto"]);
        let auto = t.split("\n\n").nth(2).unwrap_or_default();
        assert!(auto.contains("4/4d 3/4p"), "{t}");
        assert!(
            auto.lines()
                .any(|l| l.starts_with("tight") && l.ends_with("yes")),
            "{t}"
        );
        // The PPO section of the same table names no choice.
        assert!(
            t.split("\n\n")
                .nth(1)
                .unwrap_or_default()
                .contains("3/4 2/4 "),
            "{t}"
        );
    }

    #[test]
    fn missing_figures_are_dashes_not_verdicts() {
        let s = json!({ "tastes": [
            { "taste": "opening", "reward": {}, "cycle": { "ppo": [{}] } },
            { "taste": "smooth", "reward": {}, "cycle": { "ppo": [] } },
        ] });
        let t = table(&s, &["ppo"]);
        assert!(!t.contains("yes") && !t.contains("NO"), "{t}");
        assert!(t.contains("-/0"), "{t}");
    }
}
