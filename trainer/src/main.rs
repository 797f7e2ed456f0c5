//! `recut-trainer`: trains Recut's reward model and fine-tunes its policy.

use std::path::PathBuf;

mod commands;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use recut_trainer::dpo::DpoLoss;
use recut_trainer::export::{ExportInfo, write_policy, write_reward};
use recut_trainer::info::TorchInfo;
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
    ImportCsv(commands::ImportArgs),
    /// Figures about ratings: counts, apparent taste, agreement between raters,
    /// contradiction cycles, position bias.
    Stats(commands::StatsArgs),
    /// Compare two policies (ONNX files or `baseline`) on a folder of songs: keep ratio,
    /// duration, splices, win rate; writes `test_results.json` and old/new WAVs per song.
    Evaluate(commands::EvaluateArgs),
    /// One whole feedback cycle: candidates → ratings (simulated or a file) → reward model
    /// → policy → evaluation, with versions and lineage kept in the models folder.
    Cycle(commands::CycleArgs),
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
        mode: commands::ModeArgs,
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
        /// dpo: write the ONNX model only when it beats the reference on the held-out songs.
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
        ppo: ppo_cmd::PpoFlags,
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
        Command::ImportCsv(a) => commands::import(a)?,
        Command::Stats(a) => commands::stats(a)?,
        Command::Evaluate(a) => commands::evaluate(a)?,
        Command::Cycle(a) => commands::cycle(a)?,
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
            let data = commands::reward_data(
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
                std::fs::write(p, serde_json::to_string_pretty(&figures)?)
                    .with_context(|| format!("writing {}", p.display()))?;
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
                let common = ppo_cmd::Common {
                    songs,
                    max_songs,
                    held_out,
                    steps: steps.unwrap_or(ppo_cmd::DEFAULT_STEPS),
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
                return ppo_cmd::run(common, ppo);
            }
            let steps = steps.unwrap_or(300);
            let args = policy_cmd::Args {
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
            policy_cmd::run(args)?;
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

/// `recut-trainer policy --algorithm ppo`: PPO of the policy from a reference checkpoint
/// (or a PPO checkpoint to resume), judged on the held-out songs by a simulated taste.
mod ppo_cmd {
    use std::path::PathBuf;
    use std::time::Instant;

    use anyhow::{Context, Result, bail};
    use recut_trainer::device;
    use recut_trainer::export::{ExportInfo, write_policy};
    use recut_trainer::model::PolicyNet;
    use recut_trainer::ppo::{
        Advantage, PpoConfig, RewardMix, RewardSource, load_checkpoint, start_from, train_ppo,
    };
    use recut_trainer::raters::{Rater, Taste};
    use recut_trainer::train_policy::{EvalConfig, Logits, evaluate, load_songs};

    /// PPO steps when `--steps` is not given.
    pub const DEFAULT_STEPS: usize = 40;

    /// The PPO-only flags of `recut-trainer policy`.
    #[derive(clap::Args)]
    pub struct PpoFlags {
        /// ppo: reward model, a `reward.onnx` or a tch checkpoint from `recut-trainer
        /// reward`; without it the dense reward alone (said in the log).
        #[arg(long)]
        pub reward_model: Option<PathBuf>,
        /// ppo: weight of the reward model's (scaled, clamped) score.
        #[arg(long, default_value_t = recut_trainer::ppo::DEFAULT_LEARNED_WEIGHT)]
        pub learned_weight: f64,
        /// ppo: weight of the dense reward (0–1).
        #[arg(long, default_value_t = recut_trainer::ppo::DEFAULT_DENSE_WEIGHT)]
        pub dense_weight: f64,
        /// ppo: the score is multiplied by this after the offset.
        #[arg(long, default_value_t = 1.0)]
        pub reward_scale: f64,
        /// ppo: added to the score before scaling.
        #[arg(long, default_value_t = 0.0)]
        pub reward_offset: f64,
        /// ppo: the scaled score is clamped to ± this.
        #[arg(long, default_value_t = recut_trainer::ppo::DEFAULT_REWARD_CLAMP)]
        pub reward_clamp: f64,
        /// ppo: clip range of the probability ratio.
        #[arg(long, default_value_t = 0.2)]
        pub clip: f64,
        /// ppo: weight of the per-beat KL to the reference policy.
        #[arg(long, default_value_t = PpoConfig::default().kl_coef)]
        pub kl_coef: f64,
        /// ppo: roll-back: when an evaluation falls more than this (reward units) below the
        /// best so far, go back to the best policy and on at the learning rate times
        /// --rollback-lr-factor (0 = never, the default here; `cycle` uses 0.25).
        #[arg(long, default_value_t = PpoConfig::default().rollback_drop)]
        pub rollback_drop: f64,
        /// ppo: learning-rate factor of each roll-back, in (0, 1].
        #[arg(long, default_value_t = PpoConfig::default().rollback_lr_factor)]
        pub rollback_lr_factor: f64,
        /// ppo and dpo: timbre-shift augmentation: each step the policy sees its songs with
        /// one random offset per feature, this many times the features' spread over the
        /// training songs (0 = off; `cycle` uses 1).
        #[arg(long, default_value_t = PpoConfig::default().feature_shift)]
        pub feature_shift: f64,
        /// ppo: excerpt augmentation: each step every drawn song is replaced by a run of its
        /// whole phrases, at least this share of them, at a random start (1 = whole songs,
        /// the default).
        #[arg(long, default_value_t = PpoConfig::default().excerpt)]
        pub excerpt: f64,
        /// ppo: per-beat advantages: the plan's group-centred reward on every beat (group),
        /// or GAE over the beats with the value head (gae).
        #[arg(long, value_enum, default_value_t = PpoConfig::default().advantage)]
        pub advantage: Advantage,
        /// ppo: GAE λ.
        #[arg(long, default_value_t = 0.95)]
        pub gae_lambda: f64,
        /// ppo: discount per beat.
        #[arg(long, default_value_t = 1.0)]
        pub gamma: f64,
        /// ppo: passes over each batch of rollouts.
        #[arg(long, default_value_t = PpoConfig::default().ppo_epochs)]
        pub ppo_epochs: usize,
        /// ppo: plans sampled per step.
        #[arg(long, default_value_t = PpoConfig::default().rollouts_per_step)]
        pub rollouts_per_step: usize,
        /// ppo: plans of the same song per step (their mean reward is the baseline).
        #[arg(long, default_value_t = PpoConfig::default().plans_per_song)]
        pub group_size: usize,
        /// ppo: songs per gradient step.
        #[arg(long, default_value_t = PpoConfig::default().minibatch_size)]
        pub minibatch_size: usize,
        /// ppo: decoder temperature of the rollouts.
        #[arg(long, default_value_t = PpoConfig::default().temperature)]
        pub rollout_temperature: f64,
        /// ppo: evaluate on the training songs (for policy_best) every N steps.
        #[arg(long, default_value_t = PpoConfig::default().eval_every)]
        pub eval_every: usize,
        /// ppo: plans per training song in that evaluation.
        #[arg(long, default_value_t = PpoConfig::default().eval_plans_per_song)]
        pub eval_plans_per_song: usize,
        /// ppo: write a resumable checkpoint every N steps (0 = none).
        #[arg(long, default_value_t = 10)]
        pub checkpoint_every: usize,
        /// ppo: resume from a checkpoint folder (`<ppo-dir>/ppo_step_NNNNNN`).
        #[arg(long)]
        pub resume: Option<PathBuf>,
        /// ppo: folder of checkpoints, policy_best and policy_final [default: `ppo` beside
        /// --out].
        #[arg(long)]
        pub ppo_dir: Option<PathBuf>,
        /// ppo: text log (appended).
        #[arg(long, default_value = "logs/ppo.log")]
        pub log: PathBuf,
        /// ppo: training-progress picture.
        #[arg(long, default_value = "logs/ppo_progress.png")]
        pub plot: PathBuf,
        /// ppo: plans per held-out song and policy in the final comparison.
        #[arg(long, default_value_t = 8)]
        pub eval_plans: usize,
    }

    /// The `policy` flags PPO shares with bc and dpo.
    pub struct Common {
        pub songs: PathBuf,
        pub max_songs: Option<usize>,
        pub held_out: usize,
        pub steps: usize,
        pub lr: Option<f64>,
        pub from: Option<PathBuf>,
        pub taste: String,
        pub temperature: f64,
        pub only_if_better: bool,
        pub seed: u64,
        pub checkpoint: PathBuf,
        pub out: PathBuf,
        pub history: PathBuf,
        pub report: Option<PathBuf>,
    }

    pub fn run(c: Common, f: PpoFlags) -> Result<()> {
        let t0 = Instant::now();
        let dev = device::pick_device();
        tch::manual_seed(c.seed as i64);
        let taste =
            Taste::parse(&c.taste).with_context(|| format!("unknown taste `{}`", c.taste))?;
        let rater = Rater::new(taste).with_temperature(c.temperature);
        eprintln!("analysing songs in {} …", c.songs.display());
        let songs = load_songs(&c.songs, c.max_songs)?;
        let (train, test) = recut_trainer::train_policy::split_held_out(&songs, c.held_out)?;
        let test_ids: Vec<&str> = test.iter().map(|s| s.id.as_str()).collect();
        let (mut policy, reference, state, parent) = match (&f.resume, &c.from) {
            (Some(r), _) => {
                let (p, rf, st) = load_checkpoint(r, dev)
                    .with_context(|| format!("resuming from {}", r.display()))?;
                (p, rf, Some(st), r.display().to_string())
            }
            (None, Some(from)) => {
                let rf = PolicyNet::load(from, dev)
                    .with_context(|| format!("loading {}", from.display()))?;
                (start_from(&rf)?, rf, None, from.display().to_string())
            }
            (None, None) => {
                bail!("ppo needs --from <reference checkpoint> or --resume <checkpoint>")
            }
        };
        let reward = match &f.reward_model {
            Some(p) => RewardSource::load(p, dev)
                .with_context(|| format!("loading reward model {}", p.display()))?,
            None => RewardSource::Dense,
        };
        let cfg = PpoConfig {
            steps: c.steps,
            rollouts_per_step: f.rollouts_per_step,
            plans_per_song: f.group_size,
            ppo_epochs: f.ppo_epochs,
            minibatch_size: f.minibatch_size,
            lr: c.lr.unwrap_or(PpoConfig::default().lr),
            clip: f.clip,
            kl_coef: f.kl_coef,
            rollback_drop: f.rollback_drop,
            rollback_lr_factor: f.rollback_lr_factor,
            feature_shift: f.feature_shift,
            excerpt: f.excerpt,
            gamma: f.gamma,
            gae_lambda: f.gae_lambda,
            advantage: f.advantage,
            temperature: f.rollout_temperature,
            reward: RewardMix {
                learned_weight: f.learned_weight,
                dense_weight: f.dense_weight,
                scale: f.reward_scale,
                offset: f.reward_offset,
                clamp: f.reward_clamp,
            },
            eval_every: f.eval_every,
            eval_plans_per_song: f.eval_plans_per_song,
            checkpoint_every: f.checkpoint_every,
            out_dir: f.ppo_dir.clone().unwrap_or_else(|| {
                c.out
                    .parent()
                    .unwrap_or(std::path::Path::new(""))
                    .join("ppo")
            }),
            log: Some(f.log.clone()),
            history: Some(c.history.clone()),
            plot: Some(f.plot.clone()),
            progress: true,
            seed: c.seed,
            ..Default::default()
        };
        eprintln!(
            "ppo on {} training songs ({}) on {}; held out {:?}",
            train.len(),
            policy.architecture(),
            device::device_name(dev),
            test_ids
        );
        let rep = train_ppo(&cfg, &mut policy, &reference, train, &reward, state)?;
        let best = PolicyNet::load(&rep.best_path, dev)
            .with_context(|| format!("loading {}", rep.best_path.display()))?;
        let ev_cfg = EvalConfig {
            plans: f.eval_plans,
            ..Default::default()
        };
        let ev = evaluate(
            &Logits::Net(&reference),
            &Logits::Net(&best),
            test,
            &rater,
            &ev_cfg,
        )?;
        let mut songs_won = 0usize;
        for s in test {
            let e = evaluate(
                &Logits::Net(&reference),
                &Logits::Net(&best),
                std::slice::from_ref(s),
                &rater,
                &ev_cfg,
            )?;
            songs_won += usize::from(e.win_rate > 0.5);
        }
        println!(
            "ppo: {} steps in {:.1} s ({}), evaluation reward {:.4} -> {:.4} (best {:.4} at step {})",
            rep.state.step,
            rep.seconds,
            rep.reward_source,
            rep.start_eval,
            rep.final_eval,
            rep.state.best_eval.unwrap_or(f64::NAN),
            rep.state.best_step
        );
        println!(
            "held-out {:?}, taste `{}`: win rate of ppo (best) over reference {:.3} ({} comparisons, {} ties), songs won {}/{}; utility {:.3} -> {:.3}; keep ratio {:.3} -> {:.3}; splices {:.2} -> {:.2}",
            test_ids,
            taste.name(),
            ev.win_rate,
            ev.comparisons,
            ev.ties,
            songs_won,
            test.len(),
            ev.old.utility,
            ev.new.utility,
            ev.old.keep_ratio,
            ev.new.keep_ratio,
            ev.old.splices,
            ev.new.splices
        );
        let better = ev.win_rate > 0.5;
        if better || !c.only_if_better {
            best.save(&c.checkpoint)?;
            let created = recut_engine::model::onnx::now_rfc3339();
            let stamp = created.replace([':', '-'], "");
            let source = match &f.reward_model {
                Some(p) => format!("reward:{}", p.display()),
                None => "dense".into(),
            };
            let info = ExportInfo {
                model_version: format!("policy-ppo-{}", stamp.trim_end_matches('Z')),
                parent: Some(parent),
                trained_on: format!("ppo-{source}:{}", rep.state.step * cfg.rollouts_per_step),
                created,
            };
            write_policy(&best, &info, &c.out)?;
            println!("wrote {} and {}", c.out.display(), c.checkpoint.display());
        } else {
            println!(
                "ppo did not beat the reference on held-out songs: {} left as it was",
                c.out.display()
            );
        }
        if let Some(p) = &c.report {
            let figures = serde_json::json!({
                "algorithm": "ppo",
                "taste": taste.name(),
                "reward_source": rep.reward_source,
                "steps": rep.state.step,
                "ppo_seconds": rep.seconds,
                "seconds": t0.elapsed().as_secs_f64(),
                "start_eval_reward": rep.start_eval,
                "final_eval_reward": rep.final_eval,
                "best_eval_reward": rep.state.best_eval,
                "best_step": rep.state.best_step,
                "win_rate": ev.win_rate,
                "songs_won": songs_won,
                "held_out": test_ids,
                "eval": ev,
                "exported": better || !c.only_if_better,
            });
            if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(p, serde_json::to_string_pretty(&figures)?)?;
        }
        Ok(())
    }
}

/// `recut-trainer policy`: behaviour cloning and DPO of the policy.
mod policy_cmd {
    use std::path::PathBuf;
    use std::time::Instant;

    use anyhow::{Context, Result, bail};
    use recut_trainer::device;
    use recut_trainer::dpo::{DpoConfig, DpoLoss, clone_policy, simulate_dpo_pairs, train_dpo};
    use recut_trainer::export::{ExportInfo, write_policy};
    use recut_trainer::model::{PolicyConfig, PolicyNet};
    use recut_trainer::raters::{Rater, Taste};
    use recut_trainer::train_policy::{
        BcConfig, EvalConfig, Logits, baseline_demos, bc_accuracy, bc_accuracy_full, evaluate,
        load_songs, train_bc,
    };

    pub struct Args {
        pub dpo: bool,
        pub songs: PathBuf,
        pub max_songs: Option<usize>,
        pub held_out: usize,
        pub window: usize,
        pub steps: usize,
        pub batch_size: usize,
        pub lr: Option<f64>,
        pub plans_per_song: usize,
        pub config: PolicyConfig,
        pub from: Option<PathBuf>,
        pub taste: String,
        pub n_pairs: usize,
        pub temperature: f64,
        pub loss: DpoLoss,
        pub beta: f64,
        /// DPO's timbre shift ([`recut_trainer::augment`]).
        pub feature_shift: f64,
        pub only_if_better: bool,
        pub seed: u64,
        pub checkpoint: PathBuf,
        pub out: PathBuf,
        pub history: PathBuf,
        pub report: Option<PathBuf>,
    }

    pub fn run(a: Args) -> Result<()> {
        let t0 = Instant::now();
        let dev = device::pick_device();
        tch::manual_seed(a.seed as i64);
        eprintln!("analysing songs in {} …", a.songs.display());
        let songs = load_songs(&a.songs, a.max_songs)?;
        let (train, test) = recut_trainer::train_policy::split_held_out(&songs, a.held_out)?;
        let test_ids: Vec<&str> = test.iter().map(|s| s.id.as_str()).collect();
        let created = recut_engine::model::onnx::now_rfc3339();
        let stamp = created.replace([':', '-'], "");
        let stamp = stamp.trim_end_matches('Z');
        let mut figures = serde_json::Map::new();
        if !a.dpo {
            let mut net = PolicyNet::new(&a.config, dev)?;
            let demos = baseline_demos(train, a.plans_per_song, a.seed);
            let cfg = BcConfig {
                steps: a.steps,
                batch_size: a.batch_size,
                lr: a.lr.unwrap_or(1e-3),
                window: a.window,
                plans_per_song: a.plans_per_song,
                seed: a.seed,
                ..Default::default()
            };
            eprintln!(
                "behaviour cloning {} baseline plans of {} songs ({}) on {}",
                demos.len(),
                train.len(),
                net.architecture(),
                device::device_name(dev)
            );
            let rep = train_bc(&mut net, train, &demos, &cfg)?;
            let (train_acc, train_keep) = bc_accuracy(&net, train, &demos);
            let test_demos = baseline_demos(test, a.plans_per_song, a.seed.wrapping_add(99));
            let full = bc_accuracy_full(&net, test, &test_demos);
            let (acc, keep) = (full.accuracy, full.keep_share);
            println!(
                "bc: {} steps in {:.1} s, final loss {:.4}; per-beat accuracy train {:.3} (keep share {:.3}), held-out {:?} {:.3} (keep share {:.3}, per-beat majority ceiling {:.3})",
                cfg.steps,
                rep.seconds,
                rep.losses.last().copied().unwrap_or(f64::NAN),
                train_acc,
                train_keep,
                test_ids,
                acc,
                keep,
                full.majority_ceiling
            );
            figures.insert(
                "bc_heldout_majority_ceiling".into(),
                full.majority_ceiling.into(),
            );
            figures.insert(
                "bc_loss".into(),
                rep.losses.last().copied().unwrap_or(f64::NAN).into(),
            );
            figures.insert("bc_train_accuracy".into(), train_acc.into());
            figures.insert("bc_heldout_accuracy".into(), acc.into());
            figures.insert("bc_heldout_keep_share".into(), keep.into());
            figures.insert("demos".into(), demos.len().into());
            net.save(&a.checkpoint)?;
            let info = ExportInfo {
                model_version: format!("policy-bc-{stamp}"),
                parent: None,
                trained_on: format!("baseline-bc:{}", demos.len()),
                created,
            };
            write_policy(&net, &info, &a.out)?;
            println!("wrote {} and {}", a.out.display(), a.checkpoint.display());
        } else {
            let Some(from) = &a.from else {
                bail!("dpo needs --from <reference checkpoint>")
            };
            let taste =
                Taste::parse(&a.taste).with_context(|| format!("unknown taste `{}`", a.taste))?;
            let rater = Rater::new(taste).with_temperature(a.temperature);
            let reference = PolicyNet::load(from, dev)
                .with_context(|| format!("loading {}", from.display()))?;
            let mut policy = clone_policy(&reference)?;
            let (pairs, answers) = simulate_dpo_pairs(train, &rater, a.n_pairs, a.window, a.seed);
            eprintln!(
                "dpo ({:?}, beta {}) on {} decided pairs of {} answered (ceiling {:.3}) from taste `{}`",
                a.loss,
                a.beta,
                pairs.len(),
                answers.len(),
                Rater::ceiling(&answers),
                taste.name()
            );
            let cfg = DpoConfig {
                loss: a.loss,
                beta: a.beta,
                steps: a.steps,
                batch_size: a.batch_size,
                lr: a.lr.unwrap_or(1e-4),
                feature_shift: a.feature_shift,
                seed: a.seed,
                ..Default::default()
            };
            let rep = train_dpo(&mut policy, &reference, train, &pairs, &cfg)?;
            rep.history().write(&a.history)?;
            let ev = evaluate(
                &Logits::Net(&reference),
                &Logits::Net(&policy),
                test,
                &rater,
                &EvalConfig::default(),
            )?;
            let n = rep.loss.len();
            let tail = |v: &[f64]| {
                v[n.saturating_sub(10)..].iter().sum::<f64>()
                    / v[n.saturating_sub(10)..].len().max(1) as f64
            };
            println!(
                "dpo: {} steps in {:.1} s, loss {:.4} -> {:.4}, kl {:.3}, entropy {:.3}, reward accuracy {:.3}",
                n,
                rep.seconds,
                rep.loss.first().copied().unwrap_or(f64::NAN),
                tail(&rep.loss),
                tail(&rep.kl),
                tail(&rep.entropy),
                tail(&rep.reward_accuracy)
            );
            println!(
                "held-out {:?}: win rate of dpo over reference {:.3} ({} comparisons, {} ties); utility {:.3} -> {:.3}; keep ratio {:.3} -> {:.3}; duration {:.1} -> {:.1} s; splices {:.2} -> {:.2}",
                test_ids,
                ev.win_rate,
                ev.comparisons,
                ev.ties,
                ev.old.utility,
                ev.new.utility,
                ev.old.keep_ratio,
                ev.new.keep_ratio,
                ev.old.duration_s,
                ev.new.duration_s,
                ev.old.splices,
                ev.new.splices
            );
            figures.insert("dpo_pairs".into(), pairs.len().into());
            figures.insert("ceiling".into(), Rater::ceiling(&answers).into());
            figures.insert("win_rate".into(), ev.win_rate.into());
            figures.insert("eval".into(), serde_json::to_value(&ev)?);
            figures.insert("final_loss".into(), tail(&rep.loss).into());
            figures.insert("kl".into(), tail(&rep.kl).into());
            let better = ev.win_rate > 0.5;
            figures.insert("exported".into(), (better || !a.only_if_better).into());
            if better || !a.only_if_better {
                policy.save(&a.checkpoint)?;
                let info = ExportInfo {
                    model_version: format!("policy-dpo-{}-{stamp}", taste.name()),
                    parent: Some(from.display().to_string()),
                    trained_on: format!("simulated-{}:{}", taste.name(), pairs.len()),
                    created,
                };
                write_policy(&policy, &info, &a.out)?;
                println!("wrote {} and {}", a.out.display(), a.checkpoint.display());
            } else {
                println!(
                    "dpo did not beat the reference on held-out songs: {} left as it was",
                    a.out.display()
                );
            }
        }
        figures.insert("seconds".into(), t0.elapsed().as_secs_f64().into());
        if let Some(p) = &a.report {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).ok();
            }
            std::fs::write(p, serde_json::to_string_pretty(&figures)?)?;
        }
        Ok(())
    }
}
