//! The trainer library's error type.

use std::path::PathBuf;

/// Anything that can go wrong while building, training or exporting a model.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// libtorch refused an operation (shape mismatch, missing variable on load, …).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Writing or checking an ONNX model failed.
    #[error(transparent)]
    Model(#[from] recut_engine::ModelError),
    /// An engine call (analysis, ONNX session) failed.
    #[error(transparent)]
    Engine(#[from] recut_engine::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A JSON file (config sidecar, history) could not be read or written.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The training data cannot be used as given.
    #[error("data: {0}")]
    Data(String),
    /// A configuration does not make sense (heads do not divide the width, …).
    #[error("config: {0}")]
    Config(String),
}

/// The trainer's result type.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
