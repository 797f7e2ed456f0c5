//! `cargo xtask`: Recut's developer commands.
//!
//! Everything a developer or CI needs beyond plain `cargo` lives here, so that a fresh Debian
//! machine goes from clone to green with `cargo xtask test` and nothing installed by hand.

mod paths;
mod run;
mod setup;
mod tasks;
mod trainer_bench;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Recut developer commands"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch the pinned wheels, lay out .deps/ (libtorch, ONNX Runtime), install system packages.
    Setup,
    /// Analyse the demo song in assets/demo and write JSON, beat lists and a plot to target/demo.
    Demo,
    /// Setup, corpus, then `cargo test --workspace --release` (what CI runs).
    Test,
    /// Beat-tracking accuracy against peer trackers on the dev corpus, speed, then the trainer's
    /// targets per simulated taste; figures in target/bench.
    Bench(BenchArgs),
    /// Train the shipped models/policy.onnx (BC of the baseline, then DPO on the default
    /// taste when it wins on held-out songs) and models/reward.onnx, with fixed seeds.
    TrainDefault,
    /// Build and bundle a plugin (.clap, .vst3) into target/bundled (nice-plug-xtask).
    #[command(disable_help_flag = true)]
    Bundle {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Options of `cargo xtask bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Compare only against the fast peers (essentia, librosa), and run the trainer's
    /// cycles with PPO only (no DPO or auto beside it).
    #[arg(long)]
    pub quick: bool,
    /// Only files whose name contains this (passed to eval_beats.py).
    #[arg(long)]
    pub filter: Option<String>,
    /// Only the first N files (passed to eval_beats.py).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only the trainer's targets (reward model, then cycles per taste: about 30 min per
    /// seed on 2 cores with PPO, DPO and auto; 6 with --quick, which runs PPO only).
    #[arg(long, conflicts_with = "skip_trainer")]
    pub trainer_only: bool,
    /// Cycles per taste and algorithm, seeds 0..N (each 1 to 4 minutes).
    #[arg(long, default_value_t = 1)]
    pub trainer_seeds: u64,
    /// Only beats and speed, not the trainer's targets.
    #[arg(long)]
    pub skip_trainer: bool,
}

/// Errors are printed as one chain of causes, without anyhow's backtrace: a failed child
/// command has already said what went wrong, and xtask's own stack says nothing useful.
fn main() -> ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Setup => setup::setup(),
        Command::Demo => tasks::demo(),
        Command::Test => tasks::test(),
        Command::Bench(args) => tasks::bench(&args),
        Command::TrainDefault => tasks::train_default(),
        Command::Bundle { args } => tasks::bundle(args),
    }
}
