//! The subcommands of `recut-trainer` that have more to them than a call into the
//! library: their flags, defaults and what they print. `main.rs` parses the command line
//! and runs `info`, `reward` and `export` itself; the rest is here.

pub mod feedback;
pub mod policy;
pub mod ppo;

use std::path::Path;

use anyhow::{Context, Result};
use recut_trainer::export::{ExportInfo, write_policy};
use recut_trainer::model::PolicyNet;
use recut_trainer::raters::Taste;

/// A simulated rater's taste by name; the error lists every name there is.
pub fn parse_taste(name: &str) -> Result<Taste> {
    Taste::parse(name).with_context(|| {
        let names: Vec<&str> = Taste::ALL.iter().map(|t| t.name()).collect();
        format!("unknown taste `{name}` ({})", names.join(", "))
    })
}

/// Where a fine-tuned policy goes: its tch checkpoint and its ONNX model, and whether they
/// are written only when the policy beat the reference on the held-out songs.
pub struct PolicyOutputs<'a> {
    pub checkpoint: &'a Path,
    pub out: &'a Path,
    pub only_if_better: bool,
}

/// Saves `policy` and exports it with the lineage `info` gives, when its `win_rate` over
/// the reference on the held-out songs is above ½ or `only_if_better` is off, and says
/// which in the terminal (`algorithm` names the fine-tuning there). Returns whether it
/// wrote them, for the report.
pub fn save_if_better(
    policy: &PolicyNet,
    algorithm: &str,
    win_rate: f64,
    to: &PolicyOutputs,
    info: impl FnOnce() -> ExportInfo,
) -> Result<bool> {
    if win_rate <= 0.5 && to.only_if_better {
        println!(
            "{algorithm} did not beat the reference on held-out songs: {} left as it was",
            to.out.display()
        );
        return Ok(false);
    }
    policy.save(to.checkpoint)?;
    write_policy(policy, &info(), to.out)?;
    println!("wrote {} and {}", to.out.display(), to.checkpoint.display());
    Ok(true)
}
