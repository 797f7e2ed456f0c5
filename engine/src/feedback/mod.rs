//! Feedback: people's ratings of pairs of edits (DESIGN.md, "Preference data").
//!
//! - [`record`]: [`Rating`], Recut's full record, and the [`CandidateIndex`] that resolves
//!   the seed's edit ids through the candidates manifest.
//! - [`import`]: reads a file of ratings in any of the three shapes (JSON array, JSON
//!   lines, CSV; each JSON record in the seed's short or full form) in [`Mode::Strict`] or
//!   [`Mode::Lenient`], reporting every bad record as a [`RecordError`].
//! - [`export`]: writes ratings as a JSON array (the seed's full form), JSON lines or CSV,
//!   atomically.
//! - [`store`]: the feedback [`Store`], a folder of append-only JSON-lines files that the
//!   plugin and the simulated raters write and the trainer reads.

use std::fmt;
use std::path::PathBuf;

pub mod export;
pub mod import;
pub mod record;
pub mod store;

pub use export::{write_csv, write_json, write_jsonl};
pub use import::{Format, Loaded, Mode, import_file, import_str};
pub use record::{
    CandidateIndex, EditRef, MAX_STRENGTH, Preference, Rating, Side, TieKind, new_id, now_rfc3339,
};
pub use store::Store;

/// What is wrong with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The record is malformed or fails validation; it was not kept.
    Invalid,
    /// The record repeats an earlier one (same `id`, or same song, edits, rater and
    /// timestamp); the first was kept, this one was not.
    Duplicate,
    /// A line cut short by a crash during a write (JSON that ends early); skipped. A
    /// warning: never fatal, not even in [`Mode::Strict`].
    Torn,
    /// A file in the store that is not a regular file (skipped; a warning).
    Skipped,
}

impl ProblemKind {
    /// Whether this is only a warning (never stops [`Mode::Strict`]).
    pub fn is_warning(self) -> bool {
        matches!(self, ProblemKind::Torn | ProblemKind::Skipped)
    }
}

/// One bad record, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    /// The file it came from, when read from one.
    pub file: Option<PathBuf>,
    /// 0-based number of the record in its file (JSON array element, non-blank line of
    /// JSON lines, data row of CSV).
    pub index: usize,
    /// 1-based line in the file where the record starts, when known.
    pub line: Option<usize>,
    /// The field at fault (`strength`, `edit_a.actions[3]`), when one is.
    pub field: Option<String>,
    /// Error, duplicate or warning.
    pub kind: ProblemKind,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
            if let Some(line) = self.line {
                write!(f, "{line}:")?;
            }
            f.write_str(" ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "record {}", self.index)?;
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        let what = match self.kind {
            ProblemKind::Invalid => "",
            ProblemKind::Duplicate => " (duplicate)",
            ProblemKind::Torn => " (warning: torn line)",
            ProblemKind::Skipped => " (warning: skipped)",
        };
        write!(f, "{what}: {}", self.message)
    }
}

impl std::error::Error for RecordError {}

/// Everything that can go wrong reading or writing feedback.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// Plain I/O with the path it concerned.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The store's path exists and is not a folder.
    #[error("feedback store {path} is not a folder")]
    NotADirectory { path: PathBuf },
    /// The store's folder cannot be created or written (permissions, read-only disk, a
    /// file where a folder should be).
    #[error("cannot write to the feedback store at {path}: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The disk (or quota) is full: the rating was not stored and the file is unchanged.
    #[error("disk full: cannot append the rating to {path}; nothing was written")]
    StoreFull { path: PathBuf },
    /// A whole file is not the JSON it claims to be (a JSON array that does not parse).
    #[error("{path}: not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A CSV file's header lacks a required column, or CSV could not be written.
    #[error("{path}: {message}")]
    Csv { path: PathBuf, message: String },
    /// The candidates manifest cannot be read.
    #[error("candidates manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// A bad record: the first one in [`Mode::Strict`], or a rating given to
    /// [`Store::append`] that fails [`Rating::validate`].
    #[error("{0}")]
    Record(RecordError),
    /// A rating cannot be written as CSV because an edit has no candidate id.
    #[error("rating {index} cannot be written as CSV: {side} has no candidate id")]
    NoEditId { index: usize, side: &'static str },
}
