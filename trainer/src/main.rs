//! `recut-trainer`: trains Recut's reward model and fine-tunes its policy.

use std::path::PathBuf;

mod cli;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use recut_trainer::dpo::DpoLoss;
use recut_trainer::export::{ExportInfo, write_policy, write_reward};
use recut_trainer::info::TorchInfo;
use recut_trainer::json::write_json;
use recut_trainer::model::{
    MlpConfig, PolicyConfig, PolicyNet, RewardConfig, RewardModel, TransformerConfig,
};
use recut_trainer::raters::Rater;
use recut_trainer::train_reward::{TrainConfig, train_reward};
use recut_trainer::{device, loss::LossConfig};

#[derive(Parser)]
#[command(
    name = "recut-trainer",
    version,
    about = "Train Recut's reward model and policy from ratings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Default hidden units of `reward --arch mlp`.
const REWARD_MLP_HIDDEN: i64 = 16;

#[derive(Clone, Copy, ValueEnum)]
enum Arch {
    Transformer,
    Mlp,
}

#[derive(Clone, Copy, ValueEnum)]
enum Algorithm {
    Bc,
    Dpo,
    Ppo,
}

#[derive(Clone, Copy, ValueEnum)]
enum DpoKind {
    Sigmoid,
    Ipo,
    Robust,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Reward,
    Policy,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Print the libtorch version, CUDA availability and thread count.
    Info,
    /// Check and convert ratings (CSV, JSON array or JSON lines; seed short or full form;
    /// or a feedback store folder) to `preferences.json`; bad records are reported with
    /// their index and field.
    ImportCsv(cli::feedback::ImportArgs),
    /// Figures about ratings: counts, apparent taste, agreement between raters,
    /// contradiction cycles, position bias.
    Stats(cli::feedback::StatsArgs),
    /// Compare two policies (ONNX files or `baseline`) on a folder of songs: keep ratio,
    /// duration, splices, win rate; writes `test_results.json` and old/new WAVs per song.
    Evaluate(cli::feedback::EvaluateArgs),
    /// One whole feedback cycle: candidates → ratings (simulated or a file) → reward model
    /// → policy → evaluation, with versions and lineage kept in the models folder.
    Cycle(cli::feedback::CycleArgs),
    /// Train a reward model on ratings (`--ratings`: a file in any of the three shapes
    /// or a feedback store folder) or on pairs answered by a simulated rater
    /// (`--pairs-from-taste`).
    #[command(group(clap::ArgGroup::new("source").required(true).args(["pairs_from_taste", "ratings"])))]
    Reward {
        /// Simulated rater taste: tight, opening, smooth, energetic, phrase_aware.
        #[arg(long)]
        pairs_from_taste: Option<String>,
        /// Ratings to train on: a ratings file (CSV, JSON array or JSON lines; seed short
        /// or full form) or a feedback store folder.
        #[arg(long)]
        ratings: Option<PathBuf>,
        /// Candidates manifest that resolves edit ids of --ratings.
        #[arg(long)]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        mode: cli::feedback::ModeArgs,
        /// Folder of songs: the rated songs (by file stem), or the songs the simulated
        /// rater's edits are drawn from.
        #[arg(long)]
        songs: PathBuf,
        /// Use at most this many songs (sorted by file name).
        #[arg(long)]
        max_songs: Option<usize>,
        /// Use only the first N beats of each song (quick experiments).
        #[arg(long)]
        max_beats: Option<usize>,
        #[arg(long, default_value_t = 500)]
        n_pairs: usize,
        /// Rater temperature (utility units; lower = less noisy).
        #[arg(long, default_value_t = 0.25)]
        temperature: f64,
        #[arg(long, value_enum, default_value_t = Arch::Transformer)]
        arch: Arch,
        /// Transformer layers / heads / width (defaults: the seed's 3 / 4 / 256).
        #[arg(long, default_value_t = 3)]
        layers: i64,
        #[arg(long, default_value_t = 4)]
        heads: i64,
        #[arg(long, default_value_t = 256)]
        width: i64,
        /// MLP hidden units. 16: on 500 pairs of random plans (10 training songs), held-out
        /// accuracy was 2.2–4.9 points under each taste's ceiling with 16, and up to 7.3
        /// with 64 (smooth, energetic).
        #[arg(long, default_value_t = REWARD_MLP_HIDDEN)]
        hidden: i64,
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        /// Learning rate (default 3e-4 for the transformer, 1e-3 for the MLP).
        #[arg(long)]
        lr: Option<f64>,
        /// L2 weight decay (Adam).
        #[arg(long, default_value_t = 0.0)]
        weight_decay: f64,
        /// Group lasso on the MLP's descriptor inputs (0 = off): entries the ratings do
        /// not need are dropped, and the ones kept are listed. `cycle` uses 3 on its 200
        /// ratings of one policy's edits (`--reward-lasso`); on 500 pairs of random plans
        /// it is not needed (with 3, `opening` fell from 0.783 to 0.735 held out, 1 entry
        /// kept, while `smooth` rose from 0.928 to 0.964).
        #[arg(long, default_value_t = 0.0)]
        input_lasso: f64,
        #[arg(long, default_value_t = 0.0)]
        label_smoothing: f64,
        #[arg(long, default_value_t = 1e-3)]
        centring: f64,
        #[arg(long, default_value_t = 0.2)]
        val_fraction: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Fine-tune from this checkpoint (its version becomes the new model's parent).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Where the best weights go (tch VarStore + `.json` sidecar) [default: beside
        /// --out, its name with `.safetensors`].
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The exported ONNX reward model.
        #[arg(long, default_value = "models/reward.onnx")]
        out: PathBuf,
        #[arg(long, default_value = "logs/training_history.json")]
        history: PathBuf,
        /// Write the run's figures here as JSON (accuracy, ceiling, seconds to the best
        /// epoch; what `cargo xtask bench` reads).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Train the policy: behaviour cloning of the baseline (`bc`, the reference policy),
    /// DPO from a reference checkpoint on simulated preference pairs (`dpo`), or PPO from a
    /// reference checkpoint against a reward model and the dense reward (`ppo`).
    Policy {
        #[arg(long, value_enum, default_value_t = Algorithm::Bc)]
        algorithm: Algorithm,
        /// Folder of songs (analysed through the default analysis cache).
        #[arg(long)]
        songs: PathBuf,
        #[arg(long)]
        max_songs: Option<usize>,
        /// The last N songs (by file name) are held out for evaluation.
        #[arg(long, default_value_t = 2)]
        held_out: usize,
        /// Longest window of beats a training item is cropped to.
        #[arg(long, default_value_t = 512)]
        window: usize,
        /// Training steps (default 300 for bc and dpo, 40 for ppo).
        #[arg(long)]
        steps: Option<usize>,
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        /// Learning rate (default 1e-3 for bc, 1e-4 for dpo, 3e-4 for ppo).
        #[arg(long)]
        lr: Option<f64>,
        /// bc: baseline plans sampled per song.
        #[arg(long, default_value_t = 16)]
        plans_per_song: usize,
        #[arg(long, default_value_t = 2)]
        layers: i64,
        #[arg(long, default_value_t = 4)]
        heads: i64,
        #[arg(long, default_value_t = 64)]
        width: i64,
        /// dpo, ppo: the reference policy checkpoint (written by `policy --algorithm bc`).
        #[arg(long)]
        from: Option<PathBuf>,
        /// dpo: simulated rater taste (ppo: the taste the held-out evaluation judges by).
        #[arg(long, default_value = "energetic")]
        pairs_from_taste: String,
        #[arg(long, default_value_t = 256)]
        n_pairs: usize,
        #[arg(long, default_value_t = 0.25)]
        temperature: f64,
        #[arg(long, value_enum, default_value_t = DpoKind::Sigmoid)]
        loss: DpoKind,
        #[arg(long, default_value_t = 0.1)]
        beta: f64,
        /// Label noise of the robust loss.
        #[arg(long, default_value_t = 0.1)]
        epsilon: f64,
        /// dpo, ppo: save the checkpoint and write the ONNX model only when the policy beats
        /// the reference on the held-out songs (a win rate above ½; a tie is not a win).
        #[arg(long)]
        only_if_better: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where the trained weights go (tch VarStore + `.json` sidecar) [default: beside
        /// --out, its name with `.safetensors`].
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The exported ONNX policy.
        #[arg(long, default_value = "models/policy.onnx")]
        out: PathBuf,
        #[arg(long, default_value = "logs/training_history.json")]
        history: PathBuf,
        /// Write the run's figures here as JSON.
        #[arg(long)]
        report: Option<PathBuf>,
        #[command(flatten)]
        ppo: cli::ppo::PpoFlags,
    },
    /// Export a checkpoint (or a freshly initialised policy) to ONNX.
    Export {
        #[arg(long, value_enum, default_value_t = Kind::Reward)]
        kind: Kind,
        /// A checkpoint written by `reward` (or a policy checkpoint).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Policy only: export a randomly initialised default policy (plumbing tests).
        #[arg(long)]
        random_init: bool,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        model_version: Option<String>,
    },
}

/// The default checkpoint of a model exported to `out`: the same folder and name, with
/// `.safetensors` (`models/policy.onnx` → `models/policy.safetensors`), so a run exported
/// elsewhere never overwrites the checkpoints in `models/`.
fn checkpoint_beside(out: &std::path::Path) -> PathBuf {
    out.with_extension("safetensors")
}

fn main() -> Result<()> {
    recut_trainer::alloc::keep_freed_memory();
    match Cli::parse().command {
        Command::Info => println!("{}", TorchInfo::collect()),
        Command::ImportCsv(a) => cli::feedback::import(a)?,
        Command::Stats(a) => cli::feedback::stats(a)?,
        Command::Evaluate(a) => cli::feedback::evaluate(a)?,
        Command::Cycle(a) => cli::feedback::cycle(a)?,
        Command::Reward {
            pairs_from_taste,
            ratings,
            manifest,
            mode,
            songs,
            max_songs,
            max_beats,
            n_pairs,
            temperature,
            arch,
            layers,
            heads,
            width,
            hidden,
            epochs,
            batch_size,
            lr,
            weight_decay,
            input_lasso,
            label_smoothing,
            centring,
            val_fraction,
            seed,
            from,
            checkpoint,
            out,
            history,
            report: report_path,
        } => {
            let checkpoint = checkpoint.unwrap_or_else(|| checkpoint_beside(&out));
            let dev = device::pick_device();
            tch::manual_seed(seed as i64);
            let mut model = match &from {
                Some(p) => {
                    RewardModel::load(p, dev).with_context(|| format!("loading {}", p.display()))?
                }
                None => {
                    let config = match arch {
                        Arch::Transformer => RewardConfig::Transformer(TransformerConfig {
                            layers,
                            heads,
                            width,
                            ..Default::default()
                        }),
                        Arch::Mlp => RewardConfig::Mlp(MlpConfig { hidden }),
                    };
                    RewardModel::new(&config, dev)?
                }
            };
            if input_lasso > 0.0 && !matches!(model.config, RewardConfig::Mlp(_)) {
                anyhow::bail!(
                    "--input-lasso applies to the MLP's descriptor inputs; this model is {}",
                    model.architecture()
                );
            }
            let parent = model
                .model_version
                .clone()
                .or_else(|| from.as_ref().map(|p| p.display().to_string()));
            let data = cli::feedback::reward_data(
                ratings.as_deref(),
                manifest.as_deref(),
                mode.mode(),
                pairs_from_taste.as_deref(),
                &songs,
                max_songs,
                max_beats,
                n_pairs,
                temperature,
                seed,
            )?;
            let pairs = data.pairs;
            eprintln!(
                "{} pairs from {}; model {} ({} parameters) on {}",
                pairs.len(),
                data.source,
                model.architecture(),
                model.n_params(),
                device::device_name(dev)
            );
            let default_lr = if matches!(model.config, RewardConfig::Mlp(_)) {
                1e-3
            } else {
                3e-4
            };
            let cfg = TrainConfig {
                epochs,
                batch_size,
                lr: lr.unwrap_or(default_lr),
                weight_decay,
                input_lasso,
                val_fraction,
                seed,
                loss: LossConfig {
                    label_smoothing,
                    centring,
                    ..Default::default()
                },
                progress: true,
                checkpoint: None,
                ..Default::default()
            };
            let report = train_reward(&mut model, &pairs, &cfg)?;
            let created = recut_engine::model::onnx::now_rfc3339();
            let version = format!(
                "reward-{}-{}",
                created.replace([':', '-'], "").trim_end_matches('Z'),
                report.trained_on.split(':').nth(1).unwrap_or("")
            );
            model.model_version = Some(version.clone());
            model.save(&checkpoint)?;
            report.history().write(&history)?;
            let info = ExportInfo {
                model_version: version.clone(),
                parent,
                trained_on: report.trained_on.clone(),
                created,
            };
            write_reward(&model, &info, &out)?;
            // The ceiling on the validation songs' pairs, to read the accuracy against.
            let val: std::collections::BTreeSet<&str> =
                report.val_songs.iter().map(String::as_str).collect();
            let ceiling_value = data.answers.as_ref().map(|answers| {
                let val_answers: Vec<_> = pairs
                    .iter()
                    .zip(answers)
                    .filter(|(p, _)| val.contains(p.song_id.as_str()))
                    .map(|(_, a)| *a)
                    .collect();
                Rater::ceiling(&val_answers)
            });
            let ceiling = ceiling_value
                .map(|c| format!(" (ceiling {c:.3})"))
                .unwrap_or_default();
            match &report.best_val {
                Some(v) => println!(
                    "best epoch {}: val loss {:.4}, val accuracy {}{ceiling} on {} pairs of {:?}; {:.1} s",
                    report.best_epoch,
                    v.loss,
                    v.accuracy.map_or("-".into(), |a| format!("{a:.3}")),
                    v.pairs,
                    report.val_songs,
                    report.seconds
                ),
                None => println!(
                    "no validation songs (one song only); trained {:.1} s",
                    report.seconds
                ),
            }
            if let Some(line) = report
                .inputs_in_use
                .as_deref()
                .filter(|_| input_lasso > 0.0)
                .map(recut_trainer::model::summary::describe_entries)
            {
                println!("{line}");
            }
            println!(
                "wrote {} ({version}), checkpoint {}, history {}",
                out.display(),
                checkpoint.display(),
                history.display()
            );
            if let Some(p) = &report_path {
                let figures = serde_json::json!({
                    "model_version": version,
                    "architecture": model.architecture(),
                    "data": data.source,
                    "pairs": pairs.len(),
                    "train_pairs": report.train_pairs,
                    "val_pairs": report.val_pairs,
                    "val_songs": report.val_songs,
                    "best_epoch": report.best_epoch,
                    "val_loss": report.best_val.as_ref().map(|v| v.loss),
                    "val_accuracy": report.best_val.as_ref().and_then(|v| v.accuracy),
                    "ceiling": ceiling_value,
                    "seconds": report.seconds,
                    "seconds_to_best": report.seconds_to_best,
                    "inputs_in_use": report.inputs_in_use,
                });
                write_json(p, &figures)?;
            }
        }
        Command::Policy {
            algorithm,
            songs,
            max_songs,
            held_out,
            window,
            steps,
            batch_size,
            lr,
            plans_per_song,
            layers,
            heads,
            width,
            from,
            pairs_from_taste,
            n_pairs,
            temperature,
            loss,
            beta,
            epsilon,
            only_if_better,
            seed,
            checkpoint,
            out,
            history,
            report,
            ppo,
        } => {
            let checkpoint = checkpoint.unwrap_or_else(|| checkpoint_beside(&out));
            if matches!(algorithm, Algorithm::Ppo) {
                let common = cli::ppo::Common {
                    songs,
                    max_songs,
                    held_out,
                    steps: steps.unwrap_or(cli::ppo::DEFAULT_STEPS),
                    lr,
                    from,
                    taste: pairs_from_taste,
                    temperature,
                    only_if_better,
                    seed,
                    checkpoint,
                    out,
                    history,
                    report,
                };
                return cli::ppo::run(common, ppo);
            }
            let steps = steps.unwrap_or(300);
            let args = cli::policy::Args {
                dpo: matches!(algorithm, Algorithm::Dpo),
                songs,
                max_songs,
                held_out,
                window,
                steps,
                batch_size,
                lr,
                plans_per_song,
                config: PolicyConfig {
                    layers,
                    heads,
                    width,
                    mlp_ratio: 2,
                    dropout: 0.0,
                },
                from,
                taste: pairs_from_taste,
                n_pairs,
                temperature,
                loss: match loss {
                    DpoKind::Sigmoid => DpoLoss::Sigmoid,
                    DpoKind::Ipo => DpoLoss::Ipo,
                    DpoKind::Robust => DpoLoss::Robust { epsilon },
                },
                beta,
                feature_shift: ppo.feature_shift,
                only_if_better,
                seed,
                checkpoint,
                out,
                history,
                report,
            };
            cli::policy::run(args)?;
        }
        Command::Export {
            kind,
            checkpoint,
            random_init,
            out,
            model_version,
        } => {
            let dev = tch::Device::Cpu;
            let mut info = ExportInfo::default();
            match kind {
                Kind::Reward => {
                    let Some(ckpt) = checkpoint else {
                        bail!("--checkpoint is required for a reward model")
                    };
                    let model = RewardModel::load(&ckpt, dev)
                        .with_context(|| format!("loading {}", ckpt.display()))?;
                    info.model_version = model_version
                        .or(model.model_version.clone())
                        .unwrap_or_default();
                    write_reward(&model, &info, &out)?;
                }
                Kind::Policy => {
                    let model = match (checkpoint, random_init) {
                        (Some(c), _) => PolicyNet::load(&c, dev)?,
                        (None, true) => PolicyNet::new(&PolicyConfig::default(), dev)?,
                        (None, false) => bail!("give --checkpoint or --random-init"),
                    };
                    info.model_version = model_version.unwrap_or_default();
                    write_policy(&model, &info, &out)?;
                }
            }
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}
