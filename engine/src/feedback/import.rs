//! Reading ratings from a file in any of the three shapes the trainer accepts:
//!
//! - a JSON array of records ([`Format::JsonArray`]; `preferences.json`),
//! - JSON lines, one record a line ([`Format::JsonLines`]; the store's files),
//! - CSV with the header `song_id,edit_a,edit_b,preference,strength` ([`Format::Csv`];
//!   optional further columns `rater`, `timestamp`, `notes`/`reasoning`, `tie_kind`,
//!   `left`, `id`, `features_version`, `song_hash`, `policy_version`; without a header the
//!   first five columns are taken in that order).
//!
//! Each JSON record is in the seed's full form (`edit_a`/`edit_b` objects with `actions`)
//! or short form (`edit_a_id`/`edit_b_id`, resolved through a [`CandidateIndex`]); an
//! `edit_a` given as a string is an id too, which is how CSV rows are read.
//!
//! Every record that is not kept is reported as a [`RecordError`] with its 0-based index,
//! its line and the field at fault, never dropped silently. Checked: JSON syntax, required
//! fields and their types, `preference` (`a`/`b`/`tie`), `strength` 0–3, actions 0–2 (or
//! `keep`/`cut`/`loop`), edit ids known to the manifest, `tie_kind` only on ties, and
//! duplicates, kept once: the same `id`, or, when one of the two has no `id`, the same
//! song, edits, rater and timestamp (and, for records with neither rater nor timestamp,
//! the same verdict and notes). A JSON-lines record that ends early (a write cut short by
//! a crash) is a [`ProblemKind::Torn`] warning, never fatal.
//!
//! [`Mode::Strict`] stops at the first error or duplicate and returns it as
//! [`FeedbackError::Record`]; [`Mode::Lenient`] keeps every good record and returns all
//! problems beside them. Warnings are returned in both modes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use super::record::{CandidateIndex, EditRef, MAX_STRENGTH, Preference, Rating, Side, TieKind};
use super::{FeedbackError, ProblemKind, RecordError};
use crate::edit::Action;

/// What to do with a bad record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Stop at the first invalid or duplicate record ([`FeedbackError::Record`]).
    Strict,
    /// Keep every good record; report the bad ones beside them.
    #[default]
    Lenient,
}

/// The shape of a ratings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[ {..}, {..} ]`.
    JsonArray,
    /// One JSON object a line.
    JsonLines,
    /// `song_id,edit_a,edit_b,preference,strength`.
    Csv,
}

impl Format {
    /// Guesses the shape from the extension (`.csv`, `.jsonl`/`.ndjson`), else from the
    /// first non-blank character (`[` array, `{` JSON lines; anything else is CSV unless
    /// the file is named `.json`).
    pub fn detect(path: &Path, text: &str) -> Format {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => return Format::Csv,
            "jsonl" | "ndjson" => return Format::JsonLines,
            _ => {}
        }
        match text.trim_start().chars().next() {
            Some('[') => Format::JsonArray,
            Some('{') => Format::JsonLines,
            _ if ext == "json" => Format::JsonArray,
            _ => Format::Csv,
        }
    }
}

/// Ratings read from somewhere, with every problem met on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// The good records, in file order (duplicates kept once, at their first place).
    pub ratings: Vec<Rating>,
    /// Every record not kept, and warnings, in file order.
    pub problems: Vec<RecordError>,
}

impl Loaded {
    /// Problems that are errors or duplicates.
    pub fn errors(&self) -> impl Iterator<Item = &RecordError> {
        self.problems.iter().filter(|p| !p.kind.is_warning())
    }

    /// Problems that are only warnings (torn lines, skipped files).
    pub fn warnings(&self) -> impl Iterator<Item = &RecordError> {
        self.problems.iter().filter(|p| p.kind.is_warning())
    }
}

/// Reads ratings from `path` (shape by [`Format::detect`]); edit ids resolve through
/// `index` (a record that needs one without it is an error).
pub fn import_file(
    path: &Path,
    index: Option<&CandidateIndex>,
    mode: Mode,
) -> Result<Loaded, FeedbackError> {
    let bytes = std::fs::read(path).map_err(|source| FeedbackError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| FeedbackError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ),
    })?;
    import_str(&text, Format::detect(path, &text), index, mode, Some(path))
}

/// Reads ratings from `text` in `format`; `file` names it in problems.
pub fn import_str(
    text: &str,
    format: Format,
    index: Option<&CandidateIndex>,
    mode: Mode,
    file: Option<&Path>,
) -> Result<Loaded, FeedbackError> {
    let mut c = Collector::new(mode, file.map(Path::to_owned));
    match format {
        Format::JsonArray => read_array(text, index, &mut c)?,
        Format::JsonLines => read_lines(text, index, &mut c)?,
        Format::Csv => read_csv(text, index, &mut c)?,
    }
    Ok(c.finish())
}

fn display_path(file: &Option<PathBuf>) -> PathBuf {
    file.clone().unwrap_or_else(|| PathBuf::from("<input>"))
}

fn read_array(
    text: &str,
    index: Option<&CandidateIndex>,
    c: &mut Collector,
) -> Result<(), FeedbackError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let raws: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| FeedbackError::Syntax {
        path: display_path(&c.file),
        line: e.line(),
        column: e.column(),
        message: if e.is_data() {
            format!("expected a JSON array of rating records: {e}")
        } else {
            e.to_string()
        },
    })?;
    let base = text.as_ptr() as usize;
    let (mut line, mut scanned) = (1usize, 0usize);
    for (i, raw) in raws.into_iter().enumerate() {
        // RawValue borrows from `text`: its offset gives the record's line.
        let offset = (raw.get().as_ptr() as usize)
            .saturating_sub(base)
            .min(text.len());
        line += text.as_bytes()[scanned..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        scanned = offset;
        let outcome = serde_json::from_str::<Value>(raw.get())
            .map_err(|e| Bad::new(None, e.to_string()))
            .and_then(|v| parse_value(v, index));
        c.outcome(outcome, i, Some(line))?;
    }
    Ok(())
}

fn read_lines(
    text: &str,
    index: Option<&CandidateIndex>,
    c: &mut Collector,
) -> Result<(), FeedbackError> {
    let mut record = 0;
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        c.outcome(parse_line(line, index), record, Some(n + 1))?;
        record += 1;
    }
    Ok(())
}

/// Parses one JSON line; a line whose JSON ends early is [`ProblemKind::Torn`].
pub(crate) fn parse_line(line: &str, index: Option<&CandidateIndex>) -> Result<Rating, Bad> {
    match serde_json::from_str::<Value>(line) {
        Ok(v) => parse_value(v, index),
        Err(e) if e.is_eof() => Err(Bad {
            kind: ProblemKind::Torn,
            field: None,
            message: format!(
                "record ends early after {} bytes (a write cut short by a crash?); skipped",
                line.len()
            ),
        }),
        Err(e) => Err(Bad::new(None, format!("not valid JSON: {e}"))),
    }
}

/// Column names of a CSV file without a header.
const CSV_POSITIONAL: [&str; 5] = ["song_id", "edit_a", "edit_b", "preference", "strength"];

fn read_csv(
    text: &str,
    index: Option<&CandidateIndex>,
    c: &mut Collector,
) -> Result<(), FeedbackError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut record = 0;
    for (n, row) in rdr.records().enumerate() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                c.outcome(
                    Err(Bad::new(None, format!("unreadable CSV row: {e}"))),
                    record,
                    line,
                )?;
                record += 1;
                continue;
            }
        };
        let line = row.position().map(|p| p.line() as usize);
        if n == 0 && row.iter().any(|f| f.eq_ignore_ascii_case("song_id")) {
            let names: Vec<String> = row.iter().map(|f| f.trim().to_ascii_lowercase()).collect();
            for (need, alt) in [
                ("song_id", ""),
                ("edit_a", "edit_a_id"),
                ("edit_b", "edit_b_id"),
                ("preference", ""),
                ("strength", ""),
            ] {
                if !names
                    .iter()
                    .any(|n| n == need || (!alt.is_empty() && n == alt))
                {
                    return Err(FeedbackError::Csv {
                        path: display_path(&c.file),
                        message: format!(
                            "the header has no `{need}` column (expected song_id,edit_a,edit_b,preference,strength)"
                        ),
                    });
                }
            }
            header = Some(names);
            continue;
        }
        let names: Vec<&str> = match &header {
            Some(h) => h.iter().map(String::as_str).collect(),
            None => CSV_POSITIONAL.to_vec(),
        };
        let outcome = if row.len() != names.len() {
            Err(Bad::new(
                None,
                format!(
                    "row has {} fields, expected {} ({})",
                    row.len(),
                    names.len(),
                    names.join(",")
                ),
            ))
        } else {
            let mut m = Map::new();
            for (name, cell) in names.iter().zip(row.iter()) {
                if cell.is_empty() {
                    continue;
                }
                let v = match *name {
                    "strength" | "features_version" => number_cell(cell),
                    _ => Value::String(cell.to_owned()),
                };
                m.insert((*name).to_owned(), v);
            }
            parse_value(Value::Object(m), index)
        };
        c.outcome(outcome, record, line)?;
        record += 1;
    }
    Ok(())
}

fn number_cell(cell: &str) -> Value {
    if let Ok(i) = cell.parse::<i64>() {
        return Value::Number(i.into());
    }
    cell.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(cell.to_owned()), Value::Number)
}

/// Why one record was not kept.
#[derive(Debug, Clone)]
pub(crate) struct Bad {
    pub kind: ProblemKind,
    pub field: Option<String>,
    pub message: String,
}

impl Bad {
    fn new(field: Option<&str>, message: String) -> Self {
        Bad {
            kind: ProblemKind::Invalid,
            field: field.map(str::to_owned),
            message,
        }
    }
    fn field(field: impl Into<String>, message: String) -> Self {
        Bad {
            kind: ProblemKind::Invalid,
            field: Some(field.into()),
            message,
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn missing(field: &str) -> Bad {
    Bad::field(field, format!("missing field `{field}`"))
}

fn take_opt_str(m: &mut Map<String, Value>, key: &str) -> Result<Option<String>, Bad> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(Bad::field(
            key,
            format!("`{key}` must be a string, not {}", type_name(&v)),
        )),
    }
}

fn take_req_str(m: &mut Map<String, Value>, key: &str) -> Result<String, Bad> {
    take_opt_str(m, key)?.ok_or_else(|| missing(key))
}

/// An optional string field parsed by `parse`, whose accepted values are `expected`.
fn take_opt_enum<T>(
    m: &mut Map<String, Value>,
    key: &str,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, Bad> {
    match take_opt_str(m, key)? {
        None => Ok(None),
        Some(s) => parse(&s)
            .map(Some)
            .ok_or_else(|| Bad::field(key, format!("`{key}` is {s:?}; expected {expected}"))),
    }
}

fn take_strength(m: &mut Map<String, Value>) -> Result<u8, Bad> {
    let v = m
        .remove("strength")
        .filter(|v| !v.is_null())
        .ok_or_else(|| missing("strength"))?;
    let out_of_range = |shown: String| {
        Bad::field(
            "strength",
            format!("strength {shown} is outside 0-{MAX_STRENGTH}"),
        )
    };
    match &v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u8::try_from(u)
                    .ok()
                    .filter(|&s| s <= MAX_STRENGTH)
                    .ok_or_else(|| out_of_range(u.to_string()))
            } else if let Some(i) = n.as_i64() {
                Err(out_of_range(i.to_string()))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && (0.0..=f64::from(MAX_STRENGTH)).contains(&f) {
                    Ok(f as u8)
                } else if f.fract() == 0.0 {
                    Err(out_of_range(f.to_string()))
                } else {
                    Err(Bad::field(
                        "strength",
                        format!("strength {f} is not a whole number 0-{MAX_STRENGTH}"),
                    ))
                }
            }
        }
        Value::String(s) => Err(Bad::field(
            "strength",
            format!("strength {s:?} is not a whole number 0-{MAX_STRENGTH}"),
        )),
        other => Err(Bad::field(
            "strength",
            format!(
                "`strength` must be a whole number 0-{MAX_STRENGTH}, not {}",
                type_name(other)
            ),
        )),
    }
}

fn take_opt_u32(m: &mut Map<String, Value>, key: &str) -> Result<Option<u32>, Bad> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .map(Some)
            .ok_or_else(|| Bad::field(key, format!("`{key}` is {n}; expected a whole number"))),
        Some(v) => Err(Bad::field(
            key,
            format!("`{key}` must be a whole number, not {}", type_name(&v)),
        )),
    }
}

fn parse_actions(v: Value, field: &str) -> Result<Vec<Action>, Bad> {
    let Value::Array(items) = v else {
        return Err(Bad::field(
            field,
            format!(
                "`{field}` must be an array of actions (0 keep, 1 cut, 2 loop), not {}",
                type_name(&v)
            ),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let bad = |shown: String| {
                Bad::field(
                    format!("{field}[{i}]"),
                    format!("action {shown} is not 0 (keep), 1 (cut) or 2 (loop)"),
                )
            };
            match &a {
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|u| u8::try_from(u).ok())
                    .and_then(Action::from_index)
                    .ok_or_else(|| bad(n.to_string())),
                Value::String(s) => s.parse::<Action>().map_err(|_| bad(format!("{s:?}"))),
                other => Err(bad(type_name(other).to_owned())),
            }
        })
        .collect()
}

fn resolve(
    index: Option<&CandidateIndex>,
    song_id: &str,
    edit_id: &str,
    field: &str,
) -> Result<EditRef, Bad> {
    let Some(index) = index else {
        return Err(Bad::field(
            field,
            format!(
                "edit id {edit_id:?} needs a candidates manifest to resolve, and none was given"
            ),
        ));
    };
    index
        .resolve(song_id, edit_id)
        .map_err(|m| Bad::field(field, m))
}

fn parse_edit_object(
    mut o: Map<String, Value>,
    name: &str,
    song_id: &str,
    index: Option<&CandidateIndex>,
) -> Result<EditRef, Bad> {
    let id = take_opt_str(&mut o, "id").map_err(|b| Bad::field(format!("{name}.id"), b.message))?;
    let path =
        take_opt_str(&mut o, "path").map_err(|b| Bad::field(format!("{name}.path"), b.message))?;
    let duration_seconds = match o.remove("duration_seconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(v) => {
            return Err(Bad::field(
                format!("{name}.duration_seconds"),
                format!("`duration_seconds` must be a number, not {}", type_name(&v)),
            ));
        }
    };
    let actions = match o.remove("actions") {
        Some(v) if !v.is_null() => parse_actions(v, &format!("{name}.actions"))?,
        _ => match &id {
            // An object with only an id resolves like the short form.
            Some(id) if index.is_some() => {
                let mut e = resolve(index, song_id, id, &format!("{name}.id"))?;
                e.path = path.or(e.path);
                e.duration_seconds = duration_seconds.or(e.duration_seconds);
                return Ok(e);
            }
            _ => return Err(missing(&format!("{name}.actions"))),
        },
    };
    Ok(EditRef {
        id,
        path,
        actions,
        duration_seconds,
    })
}

fn take_edit(
    m: &mut Map<String, Value>,
    name: &str,
    song_id: &str,
    index: Option<&CandidateIndex>,
) -> Result<EditRef, Bad> {
    let id_key = format!("{name}_id");
    match m.remove(name) {
        Some(Value::Object(o)) => {
            m.remove(&id_key);
            parse_edit_object(o, name, song_id, index)
        }
        Some(Value::String(id)) => {
            m.remove(&id_key);
            resolve(index, song_id, &id, name)
        }
        Some(Value::Null) | None => match m.remove(&id_key) {
            Some(Value::String(id)) => resolve(index, song_id, &id, &id_key),
            Some(Value::Null) | None => Err(Bad::field(
                name,
                format!("missing field `{name}` (or `{id_key}`)"),
            )),
            Some(v) => Err(Bad::field(
                &id_key,
                format!("`{id_key}` must be a string, not {}", type_name(&v)),
            )),
        },
        Some(v) => Err(Bad::field(
            name,
            format!(
                "`{name}` must be an object or a candidate id, not {}",
                type_name(&v)
            ),
        )),
    }
}

/// One JSON record (full or short form) as a [`Rating`], validated.
pub(crate) fn parse_value(v: Value, index: Option<&CandidateIndex>) -> Result<Rating, Bad> {
    let mut m = match v {
        Value::Object(m) => m,
        other => {
            return Err(Bad::new(
                None,
                format!("a record must be a JSON object, not {}", type_name(&other)),
            ));
        }
    };
    let id = take_opt_str(&mut m, "id")?;
    let song_id = take_req_str(&mut m, "song_id")?;
    let edit_a = take_edit(&mut m, "edit_a", &song_id, index)?;
    let edit_b = take_edit(&mut m, "edit_b", &song_id, index)?;
    let preference = match take_opt_str(&mut m, "preference")? {
        None => return Err(missing("preference")),
        Some(s) => Preference::parse(&s).ok_or_else(|| {
            Bad::field(
                "preference",
                format!("preference is {s:?}; expected \"a\", \"b\" or \"tie\""),
            )
        })?,
    };
    let strength = take_strength(&mut m)?;
    let rater = take_opt_str(&mut m, "rater")?;
    let timestamp = take_opt_str(&mut m, "timestamp")?;
    let mut notes = take_opt_str(&mut m, "notes")?;
    if notes.is_none() {
        notes = take_opt_str(&mut m, "reasoning")?;
    }
    let tie_kind = take_opt_enum(&mut m, "tie_kind", TieKind::parse, "\"good\" or \"bad\"")?;
    let left = take_opt_enum(&mut m, "left", Side::parse, "\"a\" or \"b\"")?;
    let features_version = take_opt_u32(&mut m, "features_version")?;
    let song_hash = take_opt_str(&mut m, "song_hash")?;
    let policy_version = take_opt_str(&mut m, "policy_version")?;
    let rating = Rating {
        id,
        song_id,
        edit_a,
        edit_b,
        preference,
        strength,
        rater,
        timestamp,
        notes,
        tie_kind,
        left,
        features_version,
        song_hash,
        policy_version,
        extra: m,
    };
    rating.validate().map_err(|(f, msg)| Bad::field(f, msg))?;
    Ok(rating)
}

/// Gathers ratings and problems, dropping duplicates, stopping early in strict mode.
pub(crate) struct Collector {
    mode: Mode,
    /// File problems are attributed to.
    pub file: Option<PathBuf>,
    ratings: Vec<Rating>,
    problems: Vec<RecordError>,
    by_id: HashMap<String, String>,
    /// First record of each content key, and whether it had an id.
    by_content: HashMap<String, (String, bool)>,
}

impl Collector {
    pub fn new(mode: Mode, file: Option<PathBuf>) -> Self {
        Collector {
            mode,
            file,
            ratings: Vec::new(),
            problems: Vec::new(),
            by_id: HashMap::new(),
            by_content: HashMap::new(),
        }
    }

    fn whereabouts(&self, index: usize, line: Option<usize>) -> String {
        let mut s = format!("record {index}");
        if let Some(l) = line {
            s.push_str(&format!(" (line {l}"));
            if let Some(f) = &self.file {
                s.push_str(&format!(" of {}", f.display()));
            }
            s.push(')');
        }
        s
    }

    /// Takes one record's outcome; `Err` only in strict mode on an error or duplicate.
    pub fn outcome(
        &mut self,
        outcome: Result<Rating, Bad>,
        index: usize,
        line: Option<usize>,
    ) -> Result<(), FeedbackError> {
        match outcome {
            Ok(r) => self.push(r, index, line),
            Err(b) => self.problem(b, index, line),
        }
    }

    pub fn problem(
        &mut self,
        b: Bad,
        index: usize,
        line: Option<usize>,
    ) -> Result<(), FeedbackError> {
        let e = RecordError {
            file: self.file.clone(),
            index,
            line,
            field: b.field,
            kind: b.kind,
            message: b.message,
        };
        if self.mode == Mode::Strict && !e.kind.is_warning() {
            return Err(FeedbackError::Record(e));
        }
        self.problems.push(e);
        Ok(())
    }

    fn push(&mut self, r: Rating, index: usize, line: Option<usize>) -> Result<(), FeedbackError> {
        let key = r.content_key();
        let earlier =
            r.id.as_ref()
                .and_then(|id| {
                    self.by_id
                        .get(id)
                        .map(|w| (format!("same id {id:?} as {w}"), "id"))
                })
                .or_else(|| {
                    // Two records with different ids are different ratings, even when made in
                    // the same millisecond; content decides only when one of them has no id.
                    let (w, had_id) = self.by_content.get(&key)?;
                    (!(*had_id && r.id.is_some()))
                        .then(|| (format!("same song, edits, rater and timestamp as {w}"), ""))
                });
        if let Some((why, field)) = earlier {
            let b = Bad {
                kind: ProblemKind::Duplicate,
                field: (!field.is_empty()).then(|| field.to_owned()),
                message: format!("duplicate rating, {why}; kept once"),
            };
            return self.problem(b, index, line);
        }
        let here = self.whereabouts(index, line);
        if let Some(id) = &r.id {
            self.by_id.insert(id.clone(), here.clone());
        }
        self.by_content.entry(key).or_insert((here, r.id.is_some()));
        self.ratings.push(r);
        Ok(())
    }

    pub fn finish(self) -> Loaded {
        Loaded {
            ratings: self.ratings,
            problems: self.problems,
        }
    }
}
