//! `recut-trainer`: trains Recut's reward model and fine-tunes its policy.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use recut_trainer::export::{ExportInfo, write_policy, write_reward};
use recut_trainer::info::TorchInfo;
use recut_trainer::model::{
    MlpConfig, PolicyConfig, PolicyNet, RewardConfig, RewardModel, TransformerConfig,
};
use recut_trainer::raters::{Rater, Taste};
use recut_trainer::sim::{SimSong, simulate_pairs};
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

#[derive(Clone, Copy, ValueEnum)]
enum Arch {
    Transformer,
    Mlp,
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
    /// Train a reward model (for now on pairs answered by a simulated rater).
    Reward {
        /// Simulated rater taste: tight, long, smooth, energetic, phrase_aware.
        #[arg(long)]
        pairs_from_taste: String,
        /// Folder of songs to analyse and edit at random.
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
        /// MLP hidden units.
        #[arg(long, default_value_t = 64)]
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
        /// Where the best weights go (tch VarStore + `.json` sidecar).
        #[arg(long, default_value = "models/reward.safetensors")]
        checkpoint: PathBuf,
        #[arg(long, default_value = "models/reward.onnx")]
        out: PathBuf,
        #[arg(long, default_value = "logs/training_history.json")]
        history: PathBuf,
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

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Info => println!("{}", TorchInfo::collect()),
        Command::Reward {
            pairs_from_taste,
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
            label_smoothing,
            centring,
            val_fraction,
            seed,
            from,
            checkpoint,
            out,
            history,
        } => {
            let taste = Taste::parse(&pairs_from_taste).with_context(|| {
                format!("unknown taste `{pairs_from_taste}` (tight, long, smooth, energetic, phrase_aware)")
            })?;
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
            let parent = model
                .model_version
                .clone()
                .or_else(|| from.as_ref().map(|p| p.display().to_string()));
            eprintln!("analysing songs in {} …", songs.display());
            let mut songs = SimSong::analyze_dir(&songs, max_songs)?;
            if let Some(n) = max_beats {
                songs = songs.iter().map(|s| s.crop(n)).collect();
            }
            let rater = Rater::new(taste).with_temperature(temperature);
            let (pairs, answers) = simulate_pairs(&songs, &rater, n_pairs, seed);
            eprintln!(
                "{} pairs over {} songs from taste `{}` (ceiling {:.3}); model {} ({} parameters) on {}",
                pairs.len(),
                songs.len(),
                taste.name(),
                Rater::ceiling(&answers),
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
            let val_answers: Vec<_> = pairs
                .iter()
                .zip(&answers)
                .filter(|(p, _)| val.contains(p.song_id.as_str()))
                .map(|(_, a)| *a)
                .collect();
            match &report.best_val {
                Some(v) => println!(
                    "best epoch {}: val loss {:.4}, val accuracy {} (ceiling {:.3}) on {} pairs of {:?}; {:.1} s",
                    report.best_epoch,
                    v.loss,
                    v.accuracy.map_or("-".into(), |a| format!("{a:.3}")),
                    Rater::ceiling(&val_answers),
                    v.pairs,
                    report.val_songs,
                    report.seconds
                ),
                None => println!(
                    "no validation songs (one song only); trained {:.1} s",
                    report.seconds
                ),
            }
            println!(
                "wrote {} ({version}), checkpoint {}, history {}",
                out.display(),
                checkpoint.display(),
                history.display()
            );
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
