//! Recut's trainer: learns a person's taste from their ratings.
//!
//! Reward models, losses, PPO and DPO fine-tuning of the policy, and ONNX export run here
//! on tch (libtorch 2.11.0). This crate is the only one that links libtorch; the engine and
//! the plugin run the exported ONNX models.

pub mod device;
pub mod info;
