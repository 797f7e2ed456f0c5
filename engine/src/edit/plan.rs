//! The edit plan: one [`Action`] per beat, and the source [`Segment`]s it implies.
//!
//! Beat `i` spans `beats[i]..beats[i + 1]`; the last beat runs to the end of the song and
//! audio before the first beat belongs to the first beat (kept iff the first beat is
//! kept). `Loop` plays the beat, then plays it once more; a run of consecutive looped beats is
//! played through and then repeated as a block, so a looped bar sounds `1 2 3 4 1 2 3 4`
//! (not `1 1 2 2 3 3 4 4`) and a looped phrase repeats the phrase, with one splice. A repeat starts on the
//! beat itself (the pickup before the first beat is never repeated). Consecutive played beats that follow each other in the
//! source merge into one segment, so every boundary between two segments is a splice.

use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::EditError;
use crate::analysis::Analysis;

/// What happens to one beat. Serialised as its integer (`0`, `1`, `2`), the form of the
/// seed's `actions` arrays; the names `"keep"`, `"cut"`, `"loop"` are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Action {
    /// Play the beat.
    #[default]
    Keep = 0,
    /// Skip the beat.
    Cut = 1,
    /// Play the beat, then play it once more.
    Loop = 2,
}

impl Action {
    /// All actions in index order (the order of a policy's logits).
    pub const ALL: [Action; 3] = [Action::Keep, Action::Cut, Action::Loop];

    /// The action with index `i` (0 Keep, 1 Cut, 2 Loop).
    pub fn from_index(i: u8) -> Option<Action> {
        Action::ALL.get(usize::from(i)).copied()
    }

    /// Index of the action (0 Keep, 1 Cut, 2 Loop).
    pub fn index(self) -> usize {
        self as usize
    }

    /// How many times the beat sounds: 1, 0 or 2.
    pub fn plays(self) -> usize {
        match self {
            Action::Keep => 1,
            Action::Cut => 0,
            Action::Loop => 2,
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Action;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an action: 0 (keep), 1 (cut), 2 (loop) or its name")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Action, E> {
                u8::try_from(v)
                    .ok()
                    .and_then(Action::from_index)
                    .ok_or_else(|| E::custom(format!("action {v} is not 0, 1 or 2")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Action, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("action {v} is not 0, 1 or 2")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Action, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "keep" | "0" => Ok(Action::Keep),
            "cut" | "1" => Ok(Action::Cut),
            "loop" | "2" => Ok(Action::Loop),
            _ => Err(format!("unknown action {s:?} (keep, cut, loop)")),
        }
    }
}

/// The unit an edit decides on; every beat of a unit carries the unit's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Single beats.
    Beat,
    /// Bars (cuts land on downbeats).
    #[default]
    Bar,
    /// Phrases.
    Phrase,
}

impl FromStr for Granularity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "beat" | "beats" => Ok(Granularity::Beat),
            "bar" | "bars" => Ok(Granularity::Bar),
            "phrase" | "phrases" => Ok(Granularity::Phrase),
            _ => Err(format!("unknown granularity {s:?} (beat, bar, phrase)")),
        }
    }
}

impl std::fmt::Display for Granularity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Granularity::Beat => "beat",
            Granularity::Bar => "bar",
            Granularity::Phrase => "phrase",
        })
    }
}

/// A range of source frames `[start, end)`, played in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// First source frame.
    pub start: usize,
    /// One past the last source frame.
    pub end: usize,
}

impl Segment {
    /// Length in frames.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the segment holds no frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An edit of one song: the action per beat and the source segments it implies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Content hash of the song ([`Analysis::content_hash`]).
    pub song_hash: String,
    /// The unit decisions were made on.
    pub granularity: Granularity,
    /// One action per beat.
    pub actions: Vec<Action>,
    /// Beat indices in the order they sound (derived from `actions`).
    #[serde(default)]
    pub sequence: Vec<usize>,
    /// Source frame ranges in output order (derived from `actions`).
    pub segments: Vec<Segment>,
    /// Sample rate the segments count in, Hz.
    pub sample_rate: u32,
    /// Length of the source, frames.
    pub source_frames: usize,
}

/// Source frame of time `t` seconds, clamped to the song.
fn frame_at(t: f64, sample_rate: u32, total: usize) -> usize {
    let f = (t.max(0.0) * f64::from(sample_rate)).round();
    if f.is_finite() {
        (f as usize).min(total)
    } else {
        total
    }
}

impl Plan {
    /// The plan for `actions` (one per beat) on `analysis`'s beat grid, counting in frames
    /// at `sample_rate` Hz (the audio's own rate). `granularity` is set to `Beat`; use
    /// [`Plan::from_units`] for bar or phrase decisions.
    pub fn from_actions(
        analysis: &Analysis,
        actions: Vec<Action>,
        sample_rate: u32,
    ) -> Result<Plan, EditError> {
        Self::build(analysis, actions, sample_rate, Granularity::Beat)
    }

    /// The plan for one action per unit at `granularity` (see [`super::units`]), every
    /// beat of a unit taking its unit's action.
    pub fn from_units(
        analysis: &Analysis,
        granularity: Granularity,
        unit_actions: &[Action],
        sample_rate: u32,
    ) -> Result<Plan, EditError> {
        let units = super::units(analysis, granularity);
        if unit_actions.len() != units.len() {
            return Err(EditError::Length {
                what: "unit actions",
                expected: units.len(),
                got: unit_actions.len(),
            });
        }
        let actions = expand(&units, unit_actions, analysis.beats.len());
        Self::build(analysis, actions, sample_rate, granularity)
    }

    /// The plan for `actions` with `granularity` recorded as given (the actions are taken
    /// as they are, already expanded to beats).
    pub fn build(
        analysis: &Analysis,
        actions: Vec<Action>,
        sample_rate: u32,
        granularity: Granularity,
    ) -> Result<Plan, EditError> {
        let n = analysis.beats.len();
        if n == 0 {
            return Err(EditError::NoBeats);
        }
        if actions.len() != n {
            return Err(EditError::Length {
                what: "actions",
                expected: n,
                got: actions.len(),
            });
        }
        if sample_rate == 0 {
            return Err(EditError::Invalid {
                name: "sample rate",
                value: "0".into(),
                expected: "> 0 Hz",
            });
        }
        let total = frame_at(analysis.duration_s, sample_rate, usize::MAX);
        let grid = beat_frames(analysis, sample_rate, total);
        let sequence = beat_sequence(&actions);
        let mut segments: Vec<Segment> = Vec::new();
        let mut played_first = false;
        for &b in &sequence {
            // Audio before the first beat sounds with the first beat's first play only.
            let start = if b == 0 && !played_first { 0 } else { grid[b] };
            played_first |= b == 0;
            let seg = Segment {
                start,
                end: grid[b + 1],
            };
            if seg.is_empty() {
                continue;
            }
            match segments.last_mut() {
                Some(last) if last.end == seg.start => last.end = seg.end,
                _ => segments.push(seg),
            }
        }
        Ok(Plan {
            song_hash: analysis.content_hash.clone(),
            granularity,
            actions,
            sequence,
            segments,
            sample_rate,
            source_frames: total,
        })
    }

    /// Output length in frames.
    pub fn output_frames(&self) -> usize {
        self.segments.iter().map(Segment::len).sum()
    }

    /// Output length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.output_frames() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// Number of discontinuities: consecutive segments where the next does not start where
    /// the previous ended in the source.
    pub fn splice_count(&self) -> usize {
        self.segments
            .windows(2)
            .filter(|w| w[0].end != w[1].start)
            .count()
    }

    /// The jumps `(from, to)`: after beat `from` the output continues with beat `to`
    /// where `to != from + 1`.
    pub fn beat_splices(&self) -> Vec<(usize, usize)> {
        splices_of(&self.sequence)
    }

    /// The actions as integers (the seed's `actions` arrays).
    pub fn action_indices(&self) -> Vec<u8> {
        self.actions.iter().map(|a| *a as u8).collect()
    }
}

/// Beat indices in the order they sound for `actions`: a loop block (a maximal run of
/// `Loop` beats) plays through, then once more; a cut beat never sounds.
pub fn beat_sequence(actions: &[Action]) -> Vec<usize> {
    let mut out = Vec::with_capacity(actions.len() + actions.len() / 4);
    let mut b = 0;
    while b < actions.len() {
        let a = actions[b];
        let mut e = b + 1;
        while e < actions.len() && actions[e] == a {
            e += 1;
        }
        for _ in 0..a.plays() {
            out.extend(b..e);
        }
        b = e;
    }
    out
}

/// The jumps `(from, to)` in a beat `sequence`: consecutive entries that are not
/// consecutive beats.
pub fn splices_of(sequence: &[usize]) -> Vec<(usize, usize)> {
    sequence
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect()
}

/// Start frame of every beat plus the song end (`n + 1` values, non-decreasing).
pub fn beat_frames(analysis: &Analysis, sample_rate: u32, total: usize) -> Vec<usize> {
    let mut grid: Vec<usize> = analysis
        .beats
        .iter()
        .map(|t| frame_at(*t, sample_rate, total))
        .collect();
    grid.push(total);
    for k in 1..grid.len() {
        grid[k] = grid[k].max(grid[k - 1]);
    }
    grid
}

/// Per-beat actions from one action per unit.
pub fn expand(units: &[Range<usize>], unit_actions: &[Action], n_beats: usize) -> Vec<Action> {
    let mut out = vec![Action::Keep; n_beats];
    for (u, a) in units.iter().zip(unit_actions) {
        for b in u.clone().filter(|b| *b < n_beats) {
            out[b] = *a;
        }
    }
    out
}
