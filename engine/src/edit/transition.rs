//! How abrupt a jump from one beat to another is.
//!
//! A jump `i → j` means: beat `i` sounds, then beat `j` instead of `i + 1`. The listener
//! expected `i + 1`, and `j` was prepared by `j − 1`; so a jump is clean when `j` sounds
//! like `i + 1` and `i` like `j − 1` (a jump from the end of the first chorus to the
//! start of the second is clean when both are followed and preceded alike). Each feature
//! distance `d` below is taken as `(d(i + 1, j) + d(i, j − 1)) / 2` (a side that does not
//! exist, past the last beat or before the first, is replaced by `d(i, j)`):
//!
//! - timbre: Euclidean distance of MFCC 1–19 (offsets 41..60; MFCC 0 is level, counted by
//!   loudness),
//! - harmony: cosine distance of the chroma (60..72),
//! - loudness: absolute difference of the RMS level (84, in dB),
//!
//! each divided by its mean over the song's own consecutive beats `k → k + 1` and weighted
//! by [`W_TIMBRE`], [`W_HARMONY`], [`W_LOUDNESS`] (summing to 1): a cost of 1.0 means the
//! jump changes the sound as much as an ordinary beat-to-beat step of this song (and the
//! step `i → i + 1` itself costs 0); plus
//!
//! - position: [`W_POSITION`] × how far beat `j`'s place in the bar and in the phrase
//!   (sin/cos at 95..99) is from the place of `i + 1` (0 when the grid continues, 1 when
//!   opposite), not normalised: a jump that lands off the bar adds as much as one more
//!   ordinary change.

use crate::analysis::{Analysis, FEATURE_DIM};

/// First MFCC used for timbre (MFCC 1; MFCC 0 measures level, counted by loudness).
pub const MFCC_TIMBRE: std::ops::Range<usize> = 41..60;
/// Chroma offsets.
pub const CHROMA: std::ops::Range<usize> = 60..72;
/// RMS level offset (scaled: (dBFS + 30) / 30).
pub const RMS: usize = 84;
/// RMS scaling back to dB (see `features::RMS_DB_SCALE`).
pub const RMS_DB_PER_UNIT: f32 = crate::analysis::features::RMS_DB_SCALE;
/// Beat-in-bar sin/cos offsets.
pub const BEAT_IN_BAR: std::ops::Range<usize> = 95..97;
/// Bar-in-phrase sin/cos offsets.
pub const BAR_IN_PHRASE: std::ops::Range<usize> = 97..99;
/// Weight of the timbre term.
pub const W_TIMBRE: f32 = 0.4;
/// Weight of the harmony term.
pub const W_HARMONY: f32 = 0.35;
/// Weight of the loudness term.
pub const W_LOUDNESS: f32 = 0.25;
/// Weight of the position term (a fully off-grid landing).
pub const W_POSITION: f32 = 1.0;
/// Share of the position term given to the beat in the bar (the rest: bar in phrase).
pub const BEAT_IN_BAR_SHARE: f32 = 0.75;
/// Floor of a normaliser, so a perfectly static song does not divide by zero.
const MIN_NORM: f32 = 1e-4;

/// The terms of one jump's cost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CostParts {
    /// Timbre distance / the song's mean consecutive timbre distance.
    pub timbre: f32,
    /// Chroma distance / the song's mean consecutive chroma distance.
    pub harmony: f32,
    /// Level difference / the song's mean consecutive level difference.
    pub loudness: f32,
    /// Position mismatch, 0–1.
    pub position: f32,
    /// Weighted total (1.0 ≈ an ordinary beat-to-beat change).
    pub total: f32,
}

/// Transition costs for one song (normalisers computed once).
#[derive(Debug, Clone)]
pub struct TransitionModel<'a> {
    features: &'a [[f32; FEATURE_DIM]],
    norm_timbre: f32,
    norm_harmony: f32,
    norm_loudness: f32,
}

fn timbre(a: &[f32; FEATURE_DIM], b: &[f32; FEATURE_DIM]) -> f32 {
    a[MFCC_TIMBRE]
        .iter()
        .zip(&b[MFCC_TIMBRE])
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

fn harmony(a: &[f32; FEATURE_DIM], b: &[f32; FEATURE_DIM]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a[CHROMA].iter().zip(&b[CHROMA]) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na <= 0.0 || nb <= 0.0 {
        return if na == nb { 0.0 } else { 1.0 };
    }
    (1.0 - dot / (na.sqrt() * nb.sqrt())).clamp(0.0, 2.0)
}

fn loudness(a: &[f32; FEATURE_DIM], b: &[f32; FEATURE_DIM]) -> f32 {
    (a[RMS] - b[RMS]).abs() * RMS_DB_PER_UNIT
}

fn angle_distance(
    a: &[f32; FEATURE_DIM],
    b: &[f32; FEATURE_DIM],
    r: std::ops::Range<usize>,
) -> f32 {
    // Chord between two points on the unit circle is at most 2.
    let d: f32 = a[r.clone()]
        .iter()
        .zip(&b[r])
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt();
    (d / 2.0).clamp(0.0, 1.0)
}

impl<'a> TransitionModel<'a> {
    /// Normalisers from `analysis`'s consecutive beats.
    pub fn new(analysis: &'a Analysis) -> Self {
        Self::from_features(&analysis.features)
    }

    /// Normalisers from feature rows (one per beat).
    pub fn from_features(features: &'a [[f32; FEATURE_DIM]]) -> Self {
        let pairs = features.len().saturating_sub(1).max(1) as f32;
        let mean = |f: fn(&[f32; FEATURE_DIM], &[f32; FEATURE_DIM]) -> f32| {
            (features.windows(2).map(|w| f(&w[0], &w[1])).sum::<f32>() / pairs).max(MIN_NORM)
        };
        TransitionModel {
            features,
            norm_timbre: mean(timbre),
            norm_harmony: mean(harmony),
            norm_loudness: mean(loudness),
        }
    }

    /// Number of beats.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// True when there are no beats.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The terms of the jump `from → to` (indices clamped to the last beat).
    pub fn parts(&self, from: usize, to: usize) -> CostParts {
        let n = self.features.len();
        if n == 0 {
            return CostParts::default();
        }
        let (from, to) = (from.min(n - 1), to.min(n - 1));
        let f = self.features;
        // Pairs compared: (what should have come, what comes) and (what was, what prepared it).
        let ahead = (f.get(from + 1).unwrap_or(&f[from]), &f[to]);
        let behind = (&f[from], if to > 0 { &f[to - 1] } else { &f[to] });
        let ahead = if from + 1 < n {
            ahead
        } else {
            (&f[from], &f[to])
        };
        let behind = if to > 0 { behind } else { (&f[from], &f[to]) };
        let both = |d: fn(&[f32; FEATURE_DIM], &[f32; FEATURE_DIM]) -> f32| {
            0.5 * (d(ahead.0, ahead.1) + d(behind.0, behind.1))
        };
        let b = &f[to];
        let timbre = both(timbre) / self.norm_timbre;
        let harmony = both(harmony) / self.norm_harmony;
        let loudness = both(loudness) / self.norm_loudness;
        // Where the grid would have gone: the beat after `from` (for the last beat, the
        // position one beat on is unknown, so compare with `to` itself: no mismatch).
        let position = match self.features.get(from + 1) {
            Some(expected) => {
                BEAT_IN_BAR_SHARE * angle_distance(expected, b, BEAT_IN_BAR)
                    + (1.0 - BEAT_IN_BAR_SHARE) * angle_distance(expected, b, BAR_IN_PHRASE)
            }
            None => 0.0,
        };
        let total =
            W_TIMBRE * timbre + W_HARMONY * harmony + W_LOUDNESS * loudness + W_POSITION * position;
        CostParts {
            timbre,
            harmony,
            loudness,
            position,
            total,
        }
    }

    /// Total cost of the jump `from → to` (0 for `to = from + 1`; 1.0 ≈ as much change as an
    /// ordinary beat-to-beat step).
    pub fn cost(&self, from: usize, to: usize) -> f32 {
        self.parts(from, to).total
    }
}
