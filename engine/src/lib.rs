//! Recut's engine: everything that runs without torch.
//!
//! Stages, in the order data flows (one folder each): [`audio`] (decode, write WAV) →
//! [`analysis`] (STFT, onset envelope, tempo, beats, bars, phrases, features, cache) →
//! [`model`] (ONNX Runtime) → [`plot`] (pictures).

pub mod analysis;
pub mod audio;
pub mod candidates;
pub mod edit;
pub mod error;
pub mod feedback;
pub mod model;
pub mod plot;
pub mod reward;

pub use analysis::{Analysis, Corrections, FEATURE_DIM, FEATURES_VERSION};
pub use audio::Audio;
pub use error::{Error, Result};
pub use model::{ModelError, ModelInfo, PolicyModel, Provider, RewardModel};
