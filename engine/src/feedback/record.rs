//! One rating of a pair of edits, in Recut's own full form (DESIGN.md, "Preference
//! data"), and the candidate index that resolves the seed's edit ids.
//!
//! [`Rating`] serialises as the seed's full form (`song_id`, `edit_a`, `edit_b`,
//! `preference`, `strength`, `rater`, `timestamp`, `notes`; the last three as `null` when
//! unknown) plus Recut's fields (`id`, `tie_kind`, `left`, `features_version`,
//! `song_hash`, `policy_version`), which are left out when unknown. Every field beyond the
//! seed's is optional so seed files parse; keys Recut does not know are kept in
//! [`Rating::extra`] and written back.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::FeedbackError;
use crate::candidates::Manifest;
use crate::edit::Action;

/// Highest strength a rating can have (0 = no preference to speak of, 3 = strong).
pub const MAX_STRENGTH: u8 = 3;

/// Which edit the rater preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    /// Edit A is better.
    A,
    /// Edit B is better.
    B,
    /// Neither (see [`TieKind`]).
    Tie,
}

impl Preference {
    /// `"a"`, `"b"` or `"tie"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Preference::A => "a",
            Preference::B => "b",
            Preference::Tie => "tie",
        }
    }

    /// Reads `a`, `b` or `tie` (any case, surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<Preference> {
        match s.trim().to_ascii_lowercase().as_str() {
            "a" => Some(Preference::A),
            "b" => Some(Preference::B),
            "tie" => Some(Preference::Tie),
            _ => None,
        }
    }
}

impl fmt::Display for Preference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// For a tie: were both edits good or both bad?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TieKind {
    /// Both acceptable.
    Good,
    /// Both unacceptable.
    Bad,
}

impl TieKind {
    /// `"good"` or `"bad"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TieKind::Good => "good",
            TieKind::Bad => "bad",
        }
    }

    /// Reads `good` or `bad` (any case).
    pub fn parse(s: &str) -> Option<TieKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "good" => Some(TieKind::Good),
            "bad" => Some(TieKind::Bad),
            _ => None,
        }
    }
}

/// One side of the comparison (`left` says which edit the rater saw on the left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Edit A.
    A,
    /// Edit B.
    B,
}

impl Side {
    /// `"a"` or `"b"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }

    /// Reads `a` or `b` (any case).
    pub fn parse(s: &str) -> Option<Side> {
        match s.trim().to_ascii_lowercase().as_str() {
            "a" => Some(Side::A),
            "b" => Some(Side::B),
            _ => None,
        }
    }
}

/// One of the two edits of a rating: what the trainer needs to score it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditRef {
    /// Candidate id in the manifest (`temp_0.3`) when the edit came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Rendered WAV (as the manifest or the writer gave it).
    #[serde(default)]
    pub path: Option<String>,
    /// One action per beat.
    pub actions: Vec<Action>,
    /// Length of the edit, seconds.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
}

impl EditRef {
    /// An edit known only by its actions.
    pub fn from_actions(actions: Vec<Action>) -> Self {
        EditRef {
            id: None,
            path: None,
            actions,
            duration_seconds: None,
        }
    }

    /// What identifies the edit for duplicate detection: its candidate id, else its path,
    /// else its actions.
    pub(crate) fn identity(&self) -> String {
        if let Some(id) = &self.id {
            format!("id:{id}")
        } else if let Some(p) = &self.path {
            format!("path:{p}")
        } else {
            let s: String = self
                .actions
                .iter()
                .map(|a| char::from(b'0' + *a as u8))
                .collect();
            format!("actions:{s}")
        }
    }
}

/// A rating of two edits of one song: Recut's full record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Unique id (UUID v4); seed records have none until the store writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The song (file stem, as in the manifest).
    pub song_id: String,
    /// Edit A.
    pub edit_a: EditRef,
    /// Edit B.
    pub edit_b: EditRef,
    /// Which edit won.
    pub preference: Preference,
    /// How strongly, 0 to [`MAX_STRENGTH`].
    pub strength: u8,
    /// Who rated (a name, or a simulated rater's id).
    #[serde(default)]
    pub rater: Option<String>,
    /// When, RFC 3339 (seed files may hold other ISO 8601 forms; kept as written).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Free text (the short form's `reasoning`).
    #[serde(default)]
    pub notes: Option<String>,
    /// For ties: both good or both bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_kind: Option<TieKind>,
    /// Which edit the rater saw on the left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Side>,
    /// Feature layout version of the analysis the edits were made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features_version: Option<u32>,
    /// blake3 of the song file, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub song_hash: Option<String>,
    /// Version of the policy that proposed the edits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// Keys Recut does not know, kept as read and written back.
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Rating {
    /// A new rating made now: fresh [`new_id`], [`now_rfc3339`] timestamp, the rest unknown.
    pub fn new(
        song_id: impl Into<String>,
        edit_a: EditRef,
        edit_b: EditRef,
        preference: Preference,
        strength: u8,
    ) -> Self {
        Rating {
            id: Some(new_id()),
            song_id: song_id.into(),
            edit_a,
            edit_b,
            preference,
            strength,
            rater: None,
            timestamp: Some(now_rfc3339()),
            notes: None,
            tie_kind: None,
            left: None,
            features_version: None,
            song_hash: None,
            policy_version: None,
            extra: Map::new(),
        }
    }

    /// Checks what the types cannot: a song id, strength 0–3, `tie_kind` only on ties.
    /// On failure gives the field and what is wrong with it.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.song_id.trim().is_empty() {
            return Err(("song_id".into(), "song_id is empty".into()));
        }
        if self.strength > MAX_STRENGTH {
            return Err((
                "strength".into(),
                format!("strength {} is outside 0-{MAX_STRENGTH}", self.strength),
            ));
        }
        if self.tie_kind.is_some() && self.preference != Preference::Tie {
            return Err((
                "tie_kind".into(),
                format!(
                    "tie_kind is only for ties, but preference is {:?}",
                    self.preference.as_str()
                ),
            ));
        }
        for (name, e) in [("edit_a", &self.edit_a), ("edit_b", &self.edit_b)] {
            if let Some(d) = e.duration_seconds
                && !(d.is_finite() && d >= 0.0)
            {
                return Err((
                    format!("{name}.duration_seconds"),
                    format!("duration {d} is not a length in seconds"),
                ));
            }
        }
        Ok(())
    }

    /// What makes two records the same rating for duplicate detection when one of them
    /// has no `id`: song, both edits, rater and timestamp; a record with neither rater nor
    /// timestamp (the seed's short form) also needs the same verdict and notes, so two
    /// anonymous raters who judged a pair differently are both kept.
    pub(crate) fn content_key(&self) -> String {
        let mut key = format!(
            "{}\u{1}{}\u{1}{}\u{1}{:?}\u{1}{:?}",
            self.song_id,
            self.edit_a.identity(),
            self.edit_b.identity(),
            self.rater,
            self.timestamp
        );
        if self.rater.is_none() && self.timestamp.is_none() {
            key.push_str(&format!(
                "\u{1}{}\u{1}{}\u{1}{:?}",
                self.preference.as_str(),
                self.strength,
                self.notes
            ));
        }
        key
    }
}

/// A fresh UUID v4 as lowercase hyphenated text.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Now in UTC as RFC 3339 with milliseconds: `2026-11-24T22:04:54.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `t` in UTC as RFC 3339 with milliseconds (times before 1970 clamp to the epoch).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Proleptic Gregorian date of `z` days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The part of a candidates manifest that resolves edit ids: `songs[].song_id` and
/// `songs[].candidates[].{id, actions, path, duration_seconds}`. Reads Recut's
/// [`Manifest`] and older, sparser manifests alike (other keys are ignored).
#[derive(Debug, Clone, Default)]
pub struct CandidateIndex {
    songs: HashMap<String, Vec<EditRef>>,
}

#[derive(Deserialize)]
struct IndexFile {
    songs: Vec<IndexSong>,
}

#[derive(Deserialize)]
struct IndexSong {
    song_id: String,
    #[serde(default)]
    candidates: Vec<IndexCandidate>,
}

#[derive(Deserialize)]
struct IndexCandidate {
    id: String,
    actions: Vec<Action>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    duration_seconds: Option<f64>,
}

impl CandidateIndex {
    /// Reads `eval_outputs/manifest.json` (or any manifest of that shape).
    pub fn read(path: &Path) -> Result<Self, FeedbackError> {
        let bytes = std::fs::read(path).map_err(|source| FeedbackError::Io {
            path: path.to_owned(),
            source,
        })?;
        let file: IndexFile =
            serde_json::from_slice(&bytes).map_err(|e| FeedbackError::Manifest {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let mut index = CandidateIndex::default();
        for s in file.songs {
            let cands = s
                .candidates
                .into_iter()
                .map(|c| EditRef {
                    id: Some(c.id),
                    path: c.path,
                    actions: c.actions,
                    duration_seconds: c.duration_seconds,
                })
                .collect();
            index.insert(s.song_id, cands);
        }
        Ok(index)
    }

    /// Adds (or replaces) a song's candidates.
    pub fn insert(&mut self, song_id: String, candidates: Vec<EditRef>) {
        self.songs.insert(song_id, candidates);
    }

    /// Number of songs.
    pub fn len(&self) -> usize {
        self.songs.len()
    }

    /// Whether no song is indexed.
    pub fn is_empty(&self) -> bool {
        self.songs.is_empty()
    }

    /// The edit `edit_id` of `song_id`, or why not (an unknown song or candidate).
    pub fn resolve(&self, song_id: &str, edit_id: &str) -> Result<EditRef, String> {
        let Some(cands) = self.songs.get(song_id) else {
            return Err(format!(
                "song {song_id:?} is not in the candidates manifest"
            ));
        };
        cands.iter().find(|c| c.id.as_deref() == Some(edit_id)).cloned().ok_or_else(|| {
            let known: Vec<&str> = cands.iter().filter_map(|c| c.id.as_deref()).collect();
            format!("edit {edit_id:?} is not a candidate of song {song_id:?} in the manifest (known: {})", known.join(", "))
        })
    }
}

impl From<&Manifest> for CandidateIndex {
    fn from(m: &Manifest) -> Self {
        let mut index = CandidateIndex::default();
        for s in &m.songs {
            let cands = s
                .candidates
                .iter()
                .map(|c| EditRef {
                    id: Some(c.id.clone()),
                    path: Some(c.path.clone()),
                    actions: c.actions.clone(),
                    duration_seconds: Some(c.duration_seconds),
                })
                .collect();
            index.insert(s.song_id.clone(), cands);
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(951_827_696_789)),
            "2000-02-29T12:34:56.789Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_996_800)),
            "2026-11-30T00:00:00.000Z"
        );
    }
}
