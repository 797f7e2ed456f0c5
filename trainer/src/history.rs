//! `logs/training_history.json` (DESIGN.md "Training history"): the seed's keys (`episode`,
//! `step`, `total_reward`, `policy_loss`, `value_loss`, `learned_reward`, `dense_reward`),
//! `kl`, `entropy`, and for reward training `train_loss`, `val_loss`, `val_accuracy` (one
//! entry per epoch) plus `val_accuracy_by_strength` (per epoch, strengths 1–3, `null` where
//! the validation set has no pair of that strength); PPO adds `clip_fraction` (per step)
//! and `eval_step` / `eval_reward` (the periodic evaluation behind `policy_best`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The history file's content. Keys that a run does not produce stay empty arrays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingHistory {
    pub episode: Vec<u64>,
    pub step: Vec<u64>,
    pub total_reward: Vec<f64>,
    pub policy_loss: Vec<f64>,
    pub value_loss: Vec<f64>,
    pub learned_reward: Vec<f64>,
    pub dense_reward: Vec<f64>,
    pub kl: Vec<f64>,
    pub entropy: Vec<f64>,
    pub train_loss: Vec<f64>,
    pub val_loss: Vec<Option<f64>>,
    pub val_accuracy: Vec<Option<f64>>,
    pub val_accuracy_by_strength: Vec<[Option<f64>; 3]>,
    /// PPO: share of beats whose probability ratio left the clip range, per step.
    pub clip_fraction: Vec<f64>,
    /// PPO: the steps at which the fixed evaluation plans were scored (0 = the start).
    pub eval_step: Vec<u64>,
    /// PPO: mean total reward of the fixed evaluation plans at `eval_step`.
    pub eval_reward: Vec<f64>,
}

impl TrainingHistory {
    /// Writes the file (creating its folder).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::json::write_json(path, self)
    }

    /// Reads a history file (seed files without the newer keys read as empty arrays).
    pub fn read(path: &Path) -> Result<TrainingHistory> {
        crate::json::read_json(path)
    }
}
