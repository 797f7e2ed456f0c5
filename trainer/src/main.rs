//! `recut-trainer`: trains Recut's reward model and fine-tunes its policy.

use anyhow::Result;
use clap::{Parser, Subcommand};
use recut_trainer::info::TorchInfo;

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

#[derive(Subcommand)]
enum Command {
    /// Print the libtorch version, CUDA availability and thread count.
    Info,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Info => println!("{}", TorchInfo::collect()),
    }
    Ok(())
}
