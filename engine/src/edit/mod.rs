//! Edits: what to keep, cut and loop, and how it sounds.
//!
//! [`plan`] (the [`Action`] per beat and the [`Plan`] of source segments it implies) →
//! [`transition`] (how abrupt a jump from one beat to another is) → [`decoder`] (policy
//! logits + constraints → a plan of the right length) → [`baseline`] (logits without a
//! model) → [`render`](mod@render) (crossfaded audio, whole-file or block by block in
//! real time) → [`splice_quality`] (how audible a splice is, against the song's own beat
//! boundaries).

pub mod baseline;
pub mod decoder;
pub mod plan;
pub mod render;
pub mod rng;
pub mod splice_quality;
pub mod transition;

use std::ops::Range;

pub use baseline::baseline_logits;
pub use decoder::{Constraints, decode};
pub use plan::{Action, Granularity, Plan, Segment};
pub use render::{Crossfade, Renderer, render};
pub use transition::TransitionModel;

/// Everything that can make an edit impossible, each with the numbers that explain why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// The analysis has no beats, so there is nothing to edit.
    #[error("the analysis has no beats: nothing to edit")]
    NoBeats,
    /// One action (or one logit row) per beat was expected.
    #[error("{what}: expected one per beat ({expected}), got {got}")]
    Length {
        /// What was counted (actions, logits).
        what: &'static str,
        /// Number of beats.
        expected: usize,
        /// Number given.
        got: usize,
    },
    /// The plan was made for another sample rate or another song length than the audio.
    #[error(
        "the plan is for {plan_rate} Hz / {plan_frames} frames but the audio is {audio_rate} Hz / {audio_frames} frames (a different song or a resampled file?)"
    )]
    AudioMismatch {
        /// Sample rate the plan was made for, Hz.
        plan_rate: u32,
        /// Source length the plan was made for, frames.
        plan_frames: usize,
        /// Sample rate of the audio given, Hz.
        audio_rate: u32,
        /// Length of the audio given, frames.
        audio_frames: usize,
    },
    /// A crossfade length outside the supported range.
    #[error("crossfade {seconds} s is outside 0-{max} s")]
    Crossfade {
        /// Requested length, seconds.
        seconds: f64,
        /// Longest allowed, seconds.
        max: f64,
    },
    /// The target is shorter than what must be kept (intro, ending, must-keep sections).
    #[error(
        "target {target_s:.1} s (slack {slack_s:.1} s) is shorter than what must be kept: {min_s:.1} s ({what})"
    )]
    TargetTooShort {
        /// Target, seconds.
        target_s: f64,
        /// Slack, seconds.
        slack_s: f64,
        /// Shortest possible edit, seconds.
        min_s: f64,
        /// What makes up that minimum.
        what: String,
    },
    /// The target is longer than looping allows.
    #[error(
        "target {target_s:.1} s (slack {slack_s:.1} s) is longer than the longest possible edit, {max_s:.1} s ({why})"
    )]
    TargetTooLong {
        /// Target, seconds.
        target_s: f64,
        /// Slack, seconds.
        slack_s: f64,
        /// Longest possible edit, seconds.
        max_s: f64,
        /// What limits it.
        why: String,
    },
    /// The repair could not bring the edit within the slack.
    #[error(
        "could not reach {target_s:.1} s ± {slack_s:.1} s on this grid (closest: {reached_s:.2} s); allow more slack, a finer granularity or more splices"
    )]
    Unreachable {
        /// Target, seconds.
        target_s: f64,
        /// Slack, seconds.
        slack_s: f64,
        /// Closest length reached, seconds.
        reached_s: f64,
    },
    /// A beat range marked must-keep overlaps one marked must-cut.
    #[error("must-keep beats {keep:?} overlap must-cut beats {cut:?}")]
    ConflictingSections {
        /// The must-keep range (beats).
        keep: Range<usize>,
        /// The must-cut range (beats).
        cut: Range<usize>,
    },
    /// A section range is empty or past the last beat.
    #[error("section {range:?} is not a non-empty beat range within 0..{n_beats}")]
    BadSection {
        /// The range given (beats).
        range: Range<usize>,
        /// Number of beats in the song.
        n_beats: usize,
    },
    /// Zero candidates were requested.
    #[error("zero candidates requested: give at least one temperature")]
    NoCandidates,
    /// A parameter out of its range.
    #[error("invalid {name}: {value} ({expected})")]
    Invalid {
        /// Parameter name.
        name: &'static str,
        /// Value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

/// Partition of `0..n_beats` into the units an edit decides on at `granularity`:
/// single beats; bars (a pickup before the first downbeat is its own unit); or phrases
/// (gaps between listed phrases become units of their own). Always covers every beat
/// exactly once, in order, with no empty unit.
pub fn units(analysis: &crate::Analysis, granularity: Granularity) -> Vec<Range<usize>> {
    let n = analysis.beats.len();
    let mut bounds: Vec<usize> = match granularity {
        Granularity::Beat => return (0..n).map(|i| i..i + 1).collect(),
        Granularity::Bar => analysis.downbeats.clone(),
        Granularity::Phrase => analysis
            .phrases
            .iter()
            .flat_map(|p| [p.start, p.end])
            .collect(),
    };
    bounds.push(0);
    bounds.push(n);
    bounds.retain(|b| *b <= n);
    bounds.sort_unstable();
    bounds.dedup();
    bounds.windows(2).map(|w| w[0]..w[1]).collect()
}
