//! Rewards computed without a model: the dense reward (DESIGN.md, "Dense reward") that
//! is mixed 0.2 : 0.8 with the learned reward during fine-tuning.

pub mod dense;

pub use dense::{DenseReward, dense_reward};
