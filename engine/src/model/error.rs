//! Errors of the ONNX writer and the model sessions. Each names the model file and, for a
//! mismatch, both the expected and the found value, so "why did Recut fall back to the
//! baseline policy" is answered by the message alone.

use std::path::PathBuf;

/// What can go wrong writing, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file cannot be read.
    #[error("cannot read model {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model at all (random bytes, a truncated download).
    #[error("{path} is not a valid ONNX model (corrupt or truncated?): {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A required `recut.*` metadata entry is absent.
    #[error(
        "{path}: metadata `{key}` is missing; this is not a Recut {expected} model (Recut models carry recut.kind, recut.features_version and recut.model_version)"
    )]
    MissingMetadata {
        path: PathBuf,
        key: String,
        expected: String,
    },
    /// `recut.kind` is not the kind asked for.
    #[error("{path}: expected a {expected} model but recut.kind is `{found}`")]
    WrongKind {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// `recut.features_version` differs from the engine's.
    #[error(
        "{path}: model was trained on features version {found}, but this engine computes features version {expected}; retrain or export the model for version {expected}"
    )]
    FeaturesVersion {
        path: PathBuf,
        expected: u32,
        found: String,
    },
    /// The graph's inputs or outputs do not follow the contract (DESIGN.md "Models").
    #[error("{path}: graph {what} are [{found}], the {kind} contract needs [{expected}]")]
    Signature {
        path: PathBuf,
        kind: String,
        what: &'static str,
        expected: String,
        found: String,
    },
    /// ONNX Runtime refused to build a session for the model.
    #[error("{path}: ONNX Runtime cannot load the model: {reason}")]
    Session { path: PathBuf, reason: String },
    /// Running the model failed.
    #[error("{path}: inference failed: {reason}")]
    Inference { path: PathBuf, reason: String },
    /// The caller's inputs do not fit the model (no beats, lengths differ, bad action).
    #[error("invalid model input: {0}")]
    Input(String),
    /// The graph writer found a mistake in the graph being built.
    #[error("ONNX graph `{graph}`: {reason}")]
    Graph { graph: String, reason: String },
    /// Writing a `.onnx` file failed.
    #[error("cannot write model {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
