//! The engine's typed errors. Every variant names the thing the user gave us (a file, a
//! value) so a message is actionable without a backtrace.

use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine, in the order data flows.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The audio file does not exist or cannot be opened.
    #[error("cannot open audio file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file exists but holds no bytes at all.
    #[error("audio file {path} is empty (0 bytes)")]
    EmptyFile { path: PathBuf },
    /// No container format we know recognised the file.
    #[error(
        "{path} is not a supported audio file (tried WAV, FLAC, MP3, Ogg Vorbis, AIFF, MP4/AAC/ALAC): {reason}"
    )]
    UnsupportedFormat { path: PathBuf, reason: String },
    /// The container is known but its codec is not.
    #[error("{path}: unsupported codec: {reason}")]
    UnsupportedCodec { path: PathBuf, reason: String },
    /// The stream is damaged beyond what the decoder can skip.
    #[error("{path} is corrupt or truncated: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The file decodes to zero samples.
    #[error("{path} decodes to no audio (zero-length)")]
    NoAudio { path: PathBuf },
    /// The sample rate is outside what the analysis is built for.
    #[error("{path}: sample rate {rate} Hz is outside the supported 8000-192000 Hz")]
    SampleRate { path: PathBuf, rate: u32 },
    /// More channels than the engine handles.
    #[error("{path}: {channels} channels; Recut handles 1 to 8")]
    Channels { path: PathBuf, channels: usize },
    /// The audio is too short or too quiet for a beat grid.
    #[error("cannot analyse: {0}")]
    Analysis(String),
    /// A correction asked for something the grid cannot do.
    #[error("invalid correction: {0}")]
    Correction(String),
    /// Writing a WAV file failed.
    #[error("cannot write WAV {path}: {reason}")]
    WriteWav { path: PathBuf, reason: String },
    /// The analysis cache could not be read or written (never fatal for analysis itself).
    #[error("analysis cache at {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
    /// Drawing a picture failed.
    #[error("cannot draw {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    /// ONNX Runtime could not be found or loaded.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// Plain I/O with the path it concerned.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing, loading or running an ONNX model failed (see [`crate::model::ModelError`]).
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// An edit could not be made or rendered (see [`crate::edit::EditError`]).
    #[error("edit: {0}")]
    Edit(#[from] crate::edit::EditError),
    /// Reading or writing ratings failed (see [`crate::feedback::FeedbackError`]).
    #[error("feedback: {0}")]
    Feedback(#[from] crate::feedback::FeedbackError),
}
