//! The feedback store: a folder of append-only JSON-lines files, one per rater.
//!
//! Layout: `<dir>/ratings-<rater>.jsonl`, where `<rater>` is the rating's `rater` made
//! safe for a file name (ASCII letters, digits, `-`, `_` and `.` kept, anything else
//! `_`, at most 64 characters) and `default` for a rating without one. Per-rater files
//! keep one person's ratings together and let raters write without waiting for each
//! other; the record itself carries the exact rater, so two raters whose names map to one
//! file stay apart. [`Store::read_all`] reads every `ratings*.jsonl` in the folder.
//!
//! Each [`Store::append`]:
//! 1. opens the file in append mode (creating it) and takes an exclusive lock on it
//!    (`flock` through fd-lock), so other threads, processes and plugin instances wait;
//! 2. if the file does not end in `\n` (the last append was torn by a crash), starts the
//!    line with a `\n`, so the torn fragment stays a line of its own and the new record
//!    is whole;
//! 3. writes the whole line (record + `\n`) with one `write_all` and `sync_data`s;
//! 4. on any failure truncates the file back to its old length (so an error leaves no
//!    partial line; only a crash can), and maps the error: a full disk or quota to
//!    [`FeedbackError::StoreFull`], permissions or a read-only disk to
//!    [`FeedbackError::Unwritable`].
//!
//! Reading never fails on a bad line: a line whose JSON ends early (torn by a crash,
//! whether still last or already followed by a later append) is a [`ProblemKind::Torn`]
//! warning, any other malformed line an [`ProblemKind::Invalid`] problem with its file and
//! line, and a record repeated (same `id`) a [`ProblemKind::Duplicate`]. Readers take a
//! shared lock, so they never see a line being written.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fd_lock::RwLock;

use super::import::{Bad, Collector, Loaded, Mode, parse_line};
use super::record::{Rating, new_id};
use super::{FeedbackError, ProblemKind, RecordError};

/// File name prefix of the store's files.
pub const FILE_PREFIX: &str = "ratings";
/// File name suffix of the store's files.
pub const FILE_SUFFIX: &str = ".jsonl";
/// File name part for ratings without a rater.
pub const DEFAULT_RATER: &str = "default";

/// Whether `e` means the disk or the quota is full.
pub(crate) fn full_disk(e: &std::io::Error) -> bool {
    // ENOSPC = 28, EDQUOT = 122 on Linux.
    e.kind() == ErrorKind::StorageFull
        || e.kind() == ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(28 | 122))
}

fn write_error(path: &Path, source: std::io::Error) -> FeedbackError {
    if full_disk(&source) {
        FeedbackError::StoreFull {
            path: path.to_owned(),
        }
    } else if matches!(
        source.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem | ErrorKind::NotADirectory
    ) {
        FeedbackError::Unwritable {
            path: path.to_owned(),
            source,
        }
    } else {
        FeedbackError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A feedback store on disk. Cheap to open; any number of handles (threads, processes)
/// may append to one folder at once.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens the store in `dir`, creating the folder if needed, and checks that a file can
    /// be created in it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, FeedbackError> {
        let dir = dir.as_ref().to_owned();
        if dir.exists() && !dir.is_dir() {
            return Err(FeedbackError::NotADirectory { path: dir });
        }
        std::fs::create_dir_all(&dir).map_err(|source| match write_error(&dir, source) {
            FeedbackError::Io { path, source } => FeedbackError::Unwritable { path, source },
            e => e,
        })?;
        static PROBE: AtomicU64 = AtomicU64::new(0);
        let probe = dir.join(format!(
            ".write-probe-{}-{}",
            std::process::id(),
            PROBE.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new().write(true).create_new(true).open(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(source) => {
                return Err(match write_error(&dir, source) {
                    FeedbackError::Io { path, source } => {
                        FeedbackError::Unwritable { path, source }
                    }
                    e => e,
                });
            }
        }
        Ok(Store { dir })
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file ratings by `rater` go to.
    pub fn file_for(&self, rater: Option<&str>) -> PathBuf {
        self.dir
            .join(format!("{FILE_PREFIX}-{}{FILE_SUFFIX}", file_part(rater)))
    }

    /// Appends `rating` to its rater's file and returns its id (a fresh UUID when the
    /// rating had none; the record written carries it). The rating must pass
    /// [`Rating::validate`]. See the module docs for the locking and the guarantees.
    pub fn append(&self, rating: &Rating) -> Result<String, FeedbackError> {
        let path = self.file_for(rating.rater.as_deref());
        if let Err((field, message)) = rating.validate() {
            return Err(FeedbackError::Record(RecordError {
                file: Some(path),
                index: 0,
                line: None,
                field: Some(field),
                kind: ProblemKind::Invalid,
                message,
            }));
        }
        let mut owned;
        let rating = match &rating.id {
            Some(_) => rating,
            None => {
                owned = rating.clone();
                owned.id = Some(new_id());
                &owned
            }
        };
        let id = rating.id.clone().unwrap_or_default();
        let mut line = Vec::with_capacity(1024);
        line.push(b'\n');
        serde_json::to_writer(&mut line, rating).map_err(|e| FeedbackError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');

        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| write_error(&path, e))?;
        let mut lock = RwLock::new(file);
        let mut guard = lock.write().map_err(|e| write_error(&path, e))?;
        let meta = guard.metadata().map_err(|e| write_error(&path, e))?;
        let regular = meta.is_file();
        let old_len = meta.len();
        // Start on a fresh line when the last append was torn.
        let needs_newline = regular
            && old_len > 0
            && last_byte(&mut guard).map_err(|e| write_error(&path, e))? != b'\n';
        let bytes = if needs_newline { &line[..] } else { &line[1..] };
        if let Err(e) = guard.write_all(bytes).and_then(|()| guard.sync_data()) {
            if regular {
                // Leave no partial line behind: the error means "not stored".
                let _ = guard.set_len(old_len);
                let _ = guard.sync_data();
            }
            return Err(write_error(&path, e));
        }
        Ok(id)
    }

    /// The store's files, sorted by name.
    pub fn files(&self) -> Result<Vec<PathBuf>, FeedbackError> {
        let rd = std::fs::read_dir(&self.dir).map_err(|source| FeedbackError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|source| FeedbackError::Io {
                path: self.dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(FILE_PREFIX) && name.ends_with(FILE_SUFFIX) {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(files)
    }

    /// Every rating in the store (files by name, lines in order), with every problem: torn
    /// lines and files that are not regular files as warnings, malformed lines with file
    /// and line, repeated records as duplicates (kept once). Fails only when the folder or
    /// a file cannot be read at all.
    pub fn read_all(&self) -> Result<Loaded, FeedbackError> {
        let mut c = Collector::new(Mode::Lenient, None);
        for path in self.files()? {
            c.file = Some(path.clone());
            let meta = std::fs::metadata(&path).map_err(|source| FeedbackError::Io {
                path: path.clone(),
                source,
            })?;
            if !meta.is_file() {
                let b = Bad {
                    kind: ProblemKind::Skipped,
                    field: None,
                    message: "not a regular file; skipped".into(),
                };
                c.problem(b, 0, None)?;
                continue;
            }
            let bytes = read_locked(&path).map_err(|source| FeedbackError::Io {
                path: path.clone(),
                source,
            })?;
            let mut record = 0;
            let mut lines = bytes.split(|&b| b == b'\n').peekable();
            let mut n = 0;
            while let Some(raw) = lines.next() {
                n += 1;
                let last_unterminated = lines.peek().is_none();
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                if raw.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let outcome = match std::str::from_utf8(raw) {
                    Ok(text) => parse_line(text, None),
                    // A torn write can cut a multi-byte character in two.
                    Err(e) if last_unterminated && e.error_len().is_none() => Err(Bad {
                        kind: ProblemKind::Torn,
                        field: None,
                        message: "record ends early (a write cut short by a crash?); skipped"
                            .into(),
                    }),
                    Err(e) => Err(Bad {
                        kind: ProblemKind::Invalid,
                        field: None,
                        message: format!("not UTF-8 text: {e}"),
                    }),
                };
                let outcome = match outcome {
                    Err(mut b)
                        if last_unterminated
                            && b.kind == ProblemKind::Invalid
                            && b.field.is_none() =>
                    {
                        // Unparseable and without its newline: a torn last line.
                        b.kind = ProblemKind::Torn;
                        b.message = format!(
                            "last line has no newline and does not parse (torn by a crash?); skipped: {}",
                            b.message
                        );
                        Err(b)
                    }
                    o => o,
                };
                c.outcome(outcome, record, Some(n))?;
                record += 1;
            }
        }
        Ok(c.finish())
    }

    /// Writes every rating in the store to `path` (normally `preferences.json`) as a JSON
    /// array in the seed's full form, atomically (temporary file + rename). Returns what was
    /// written and the problems met reading the store.
    pub fn export_preferences(&self, path: &Path) -> Result<Loaded, FeedbackError> {
        let loaded = self.read_all()?;
        super::export::write_json(path, &loaded.ratings)?;
        Ok(loaded)
    }
}

/// `rater` as a file-name part.
fn file_part(rater: Option<&str>) -> String {
    let s: String = rater
        .unwrap_or("")
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        DEFAULT_RATER.to_owned()
    } else {
        s
    }
}

fn last_byte(f: &mut File) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    f.seek(SeekFrom::End(-1))?;
    f.read_exact(&mut b)?;
    Ok(b[0])
}

/// The whole file under a shared lock (so no append is half-seen).
fn read_locked(path: &Path) -> std::io::Result<Vec<u8>> {
    let lock = RwLock::new(File::open(path)?);
    let guard = lock.read()?;
    let mut bytes = Vec::new();
    (&*guard).read_to_end(&mut bytes)?;
    Ok(bytes)
}
