//! Writing ratings in the three shapes [`import`](super::import) reads. Every writer
//! writes a temporary file beside the target and renames it over, so a reader sees the old
//! file or the new one, never half of one.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::FeedbackError;
use super::record::Rating;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FeedbackError> {
    let io = |source: std::io::Error| match super::store::full_disk(&source) {
        true => FeedbackError::StoreFull {
            path: path.to_owned(),
        },
        false => FeedbackError::Io {
            path: path.to_owned(),
            source,
        },
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ratings".into());
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_file_name(format!(
        ".{name}.tmp{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Writes `ratings` as a pretty JSON array in the seed's full form (`preferences.json`).
pub fn write_json(path: &Path, ratings: &[Rating]) -> Result<(), FeedbackError> {
    let mut json = serde_json::to_vec_pretty(ratings).map_err(|e| FeedbackError::Io {
        path: path.to_owned(),
        source: e.into(),
    })?;
    json.push(b'\n');
    write_atomic(path, &json)
}

/// Writes `ratings` as JSON lines, one record a line.
pub fn write_jsonl(path: &Path, ratings: &[Rating]) -> Result<(), FeedbackError> {
    let mut out = Vec::new();
    for r in ratings {
        serde_json::to_writer(&mut out, r).map_err(|e| FeedbackError::Io {
            path: path.to_owned(),
            source: e.into(),
        })?;
        out.push(b'\n');
    }
    write_atomic(path, &out)
}

/// Writes `ratings` as CSV: `song_id,edit_a,edit_b,preference,strength`, plus
/// `rater,timestamp,notes` when any rating has one of them. Edits are written by candidate
/// id, so every edit needs one ([`FeedbackError::NoEditId`] otherwise); actions, paths and
/// Recut's own fields are not written (the manifest holds the edits).
pub fn write_csv(path: &Path, ratings: &[Rating]) -> Result<(), FeedbackError> {
    let csv_err = |e: csv::Error| FeedbackError::Csv {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let extra = ratings
        .iter()
        .any(|r| r.rater.is_some() || r.timestamp.is_some() || r.notes.is_some());
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["song_id", "edit_a", "edit_b", "preference", "strength"];
    if extra {
        header.extend(["rater", "timestamp", "notes"]);
    }
    w.write_record(&header).map_err(csv_err)?;
    for (index, r) in ratings.iter().enumerate() {
        let a = r.edit_a.id.as_deref().ok_or(FeedbackError::NoEditId {
            index,
            side: "edit_a",
        })?;
        let b = r.edit_b.id.as_deref().ok_or(FeedbackError::NoEditId {
            index,
            side: "edit_b",
        })?;
        let strength = r.strength.to_string();
        let mut row = vec![
            r.song_id.as_str(),
            a,
            b,
            r.preference.as_str(),
            strength.as_str(),
        ];
        if extra {
            row.extend([
                r.rater.as_deref().unwrap_or(""),
                r.timestamp.as_deref().unwrap_or(""),
                r.notes.as_deref().unwrap_or(""),
            ]);
        }
        w.write_record(&row).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| FeedbackError::Csv {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    write_atomic(path, &bytes)
}
