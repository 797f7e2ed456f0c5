//! The dense reward: four terms in [0, 1] measured at an edit's splices, and their mean.
//!
//! A splice is a jump `from → to` in the plan's beat sequence (`to != from + 1`): a cut
//! run or a loop repeat. A plan with no splice scores 1 on every term.

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::edit::plan::Plan;
use crate::edit::transition::{RMS, RMS_DB_PER_UNIT, TransitionModel};

/// Tempo difference across a splice tolerated without penalty, BPM.
pub const TEMPO_TOLERANCE_BPM: f64 = 5.0;
/// Tempo difference at which a splice counts fully against tempo consistency, BPM.
pub const TEMPO_FULL_PENALTY_BPM: f64 = 20.0;
/// Beat intervals on each side of a splice averaged for the local tempo.
pub const TEMPO_CONTEXT_BEATS: usize = 3;
/// A splice whose RMS jump is this many times the song's mean beat-to-beat RMS change
/// scores 0 on energy flow.
pub const ENERGY_WORST_RATIO: f64 = 4.0;
/// Smallest mean beat-to-beat RMS change used as reference, dB (a perfectly flat song).
pub const ENERGY_MIN_REFERENCE_DB: f64 = 0.25;
/// A splice with this normalised transition cost (an ordinary beat change costs 1) scores
/// 0 on transition quality.
pub const TRANSITION_WORST_COST: f64 = 4.0;
/// Score of an edit boundary on a bar line that is not a phrase boundary.
pub const BAR_BOUNDARY_SCORE: f64 = 0.5;

/// The dense reward of one edit, term by term.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DenseReward {
    /// Tempo consistency, 0–1.
    pub tempo: f64,
    /// Energy flow, 0–1.
    pub energy: f64,
    /// Phrase completeness, 0–1.
    pub phrase: f64,
    /// Transition quality, 0–1.
    pub transition: f64,
    /// Mean of the four terms, 0–1.
    pub total: f64,
}

/// Local tempo in BPM around a point between beats: the mean beat interval of up to
/// [`TEMPO_CONTEXT_BEATS`] intervals ending at beat `end` (`before = true`) or starting
/// at beat `start` (`before = false`).
fn local_bpm(beats: &[f64], at: usize, before: bool) -> Option<f64> {
    let n = beats.len();
    if n < 2 {
        return None;
    }
    let (lo, hi) = if before {
        // Intervals (k-1, k) for k in (at-ctx+1 ..= at+1) limited to the grid: the beat
        // `at` and the ones before it.
        let hi = (at + 1).min(n - 1);
        (hi.saturating_sub(TEMPO_CONTEXT_BEATS), hi)
    } else {
        let lo = at.min(n - 2);
        (lo, (lo + TEMPO_CONTEXT_BEATS).min(n - 1))
    };
    if hi <= lo {
        return None;
    }
    let span = beats[hi] - beats[lo];
    (span > 0.0).then(|| 60.0 * (hi - lo) as f64 / span)
}

/// **Tempo consistency** = 1 − mean over splices of `w`, where
/// `w = clamp((|ΔBPM| − 5) / (20 − 5), 0, 1)` and `ΔBPM` is the difference between the
/// local tempo before the jump (the [`TEMPO_CONTEXT_BEATS`] beat intervals up to and
/// including the outgoing beat) and after it (the intervals from the incoming beat on).
/// Splices within [`TEMPO_TOLERANCE_BPM`] cost nothing; a jump of
/// [`TEMPO_FULL_PENALTY_BPM`] or more counts fully.
pub fn tempo_consistency(analysis: &Analysis, splices: &[(usize, usize)]) -> f64 {
    if splices.is_empty() {
        return 1.0;
    }
    let penalty: f64 = splices
        .iter()
        .map(|&(from, to)| {
            match (
                local_bpm(&analysis.beats, from, true),
                local_bpm(&analysis.beats, to, false),
            ) {
                (Some(a), Some(b)) => (((a - b).abs() - TEMPO_TOLERANCE_BPM)
                    / (TEMPO_FULL_PENALTY_BPM - TEMPO_TOLERANCE_BPM))
                    .clamp(0.0, 1.0),
                _ => 0.0,
            }
        })
        .sum();
    1.0 - penalty / splices.len() as f64
}

/// **Energy flow** = 1 − clamp(mean over splices of `|RMS(from) − RMS(to)|` /
/// ([`ENERGY_WORST_RATIO`] × `ref`), 0, 1), with RMS the beat level in dB (feature 84)
/// and `ref` the song's mean `|RMS(k) − RMS(k+1)|` over consecutive beats (at least
/// [`ENERGY_MIN_REFERENCE_DB`]): a jump as large as an ordinary beat change costs 0.25.
pub fn energy_flow(analysis: &Analysis, splices: &[(usize, usize)]) -> f64 {
    if splices.is_empty() {
        return 1.0;
    }
    let f = &analysis.features;
    let db = |i: usize| {
        f.get(i)
            .map_or(0.0, |r| f64::from(r[RMS] * RMS_DB_PER_UNIT))
    };
    let pairs = f.len().saturating_sub(1).max(1) as f64;
    let reference = (f
        .windows(2)
        .map(|w| f64::from((w[0][RMS] - w[1][RMS]).abs() * RMS_DB_PER_UNIT))
        .sum::<f64>()
        / pairs)
        .max(ENERGY_MIN_REFERENCE_DB);
    let mean_jump = splices
        .iter()
        .map(|&(a, b)| (db(a) - db(b)).abs())
        .sum::<f64>()
        / splices.len() as f64;
    1.0 - (mean_jump / (ENERGY_WORST_RATIO * reference)).clamp(0.0, 1.0)
}

/// Score of an edit boundary at beat index `b` (the boundary before beat `b`; `0` and
/// `n` are the song's edges): 1 on a phrase start or an edge, [`BAR_BOUNDARY_SCORE`] on a
/// downbeat, 0 mid-bar.
fn boundary_score(analysis: &Analysis, b: usize) -> f64 {
    let n = analysis.beats.len();
    if b == 0 || b >= n || analysis.phrases.iter().any(|p| p.start == b) {
        1.0
    } else if analysis.downbeats.binary_search(&b).is_ok() {
        BAR_BOUNDARY_SCORE
    } else {
        0.0
    }
}

/// **Phrase completeness** = mean over the edit boundaries of their score: each splice
/// `from → to` has two, where the played material stops (before beat `from + 1`) and
/// where it resumes (before beat `to`); a boundary on a phrase start scores 1, on a bar
/// line [`BAR_BOUNDARY_SCORE`], mid-bar 0.
pub fn phrase_completeness(analysis: &Analysis, splices: &[(usize, usize)]) -> f64 {
    if splices.is_empty() {
        return 1.0;
    }
    let total: f64 = splices
        .iter()
        .map(|&(from, to)| boundary_score(analysis, from + 1) + boundary_score(analysis, to))
        .sum();
    total / (2 * splices.len()) as f64
}

/// **Transition quality** = 1 − clamp(mean over splices of the normalised transition cost
/// ([`TransitionModel::cost`]: timbre, chroma, loudness, bar position; 1.0 = an ordinary
/// beat-to-beat change) / [`TRANSITION_WORST_COST`], 0, 1).
pub fn transition_quality(analysis: &Analysis, splices: &[(usize, usize)]) -> f64 {
    if splices.is_empty() {
        return 1.0;
    }
    let tm = TransitionModel::new(analysis);
    let mean = splices
        .iter()
        .map(|&(a, b)| f64::from(tm.cost(a, b)))
        .sum::<f64>()
        / splices.len() as f64;
    1.0 - (mean / TRANSITION_WORST_COST).clamp(0.0, 1.0)
}

/// The dense reward of `plan` on `analysis`: the four terms and their mean.
pub fn dense_reward(analysis: &Analysis, plan: &Plan) -> DenseReward {
    let splices = plan.beat_splices();
    let tempo = tempo_consistency(analysis, &splices);
    let energy = energy_flow(analysis, &splices);
    let phrase = phrase_completeness(analysis, &splices);
    let transition = transition_quality(analysis, &splices);
    DenseReward {
        tempo,
        energy,
        phrase,
        transition,
        total: (tempo + energy + phrase + transition) / 4.0,
    }
}
