//! Recut's trainer: learns a person's taste from their ratings.
//!
//! Reward models ([`model::reward`]), the policy ([`model::policy`]), the Bradley–Terry
//! loss ([`loss`]), reward training ([`train_reward`]), PPO ([`ppo`]), simulated raters ([`raters`]) and
//! ONNX export ([`export`]) run here on tch (libtorch 2.11.0). This crate is the only one
//! that links libtorch; the engine and the plugin run the exported ONNX models.

pub mod alloc;
pub mod augment;
pub mod cycle;
pub mod data;
pub mod device;
pub mod dpo;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod history;
pub mod import;
pub mod info;
pub mod json;
pub mod loss;
pub mod model;
pub mod ppo;
pub mod raters;
pub mod rng;
pub mod sim;
pub mod stats;
pub mod train_policy;
pub mod train_reward;

pub use error::{Result, TrainError};
