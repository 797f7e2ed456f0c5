//! Reading ratings for the trainer: a file in any of the three shapes of DESIGN.md
//! "Preference data" (JSON array, JSON lines, CSV; seed short or full form) or a feedback
//! store folder, through `recut_engine::feedback`. Edit ids of the short form and of CSV
//! resolve through a candidates manifest. Nothing is dropped silently: every record not
//! kept comes back as a [`RecordError`] with its index, line and field.

use std::path::Path;

use recut_engine::feedback::{
    CandidateIndex, FeedbackError, Loaded, Mode, RecordError, Store, import_file,
};

use crate::error::{Result, TrainError};

fn feedback(e: FeedbackError) -> TrainError {
    TrainError::Engine(recut_engine::Error::Feedback(e))
}

/// Reads the candidates manifest that resolves edit ids.
pub fn read_index(manifest: &Path) -> Result<CandidateIndex> {
    CandidateIndex::read(manifest).map_err(feedback)
}

/// Ratings from `source`: a feedback store folder or a ratings file. In [`Mode::Strict`]
/// the first invalid or duplicate record is an error (a [`TrainError::Engine`] wrapping
/// the record's [`RecordError`]); in [`Mode::Lenient`] the good records come back with
/// every problem beside them. A store is read leniently and then, in strict mode, fails
/// on its first problem that is not a warning.
pub fn load_ratings(source: &Path, index: Option<&CandidateIndex>, mode: Mode) -> Result<Loaded> {
    if source.is_dir() {
        let loaded = Store::open(source)
            .and_then(|s| s.read_all())
            .map_err(feedback)?;
        if mode == Mode::Strict
            && let Some(e) = loaded.errors().next()
        {
            return Err(feedback(FeedbackError::Record(e.clone())));
        }
        return Ok(loaded);
    }
    import_file(source, index, mode).map_err(feedback)
}

/// One line per problem, errors first, for a report on stderr.
pub fn describe_problems(problems: &[RecordError]) -> Vec<String> {
    let mut errors: Vec<String> = problems
        .iter()
        .filter(|p| !p.kind.is_warning())
        .map(|p| format!("error: {p}"))
        .collect();
    errors.extend(
        problems
            .iter()
            .filter(|p| p.kind.is_warning())
            .map(|p| format!("warning: {p}")),
    );
    errors
}
