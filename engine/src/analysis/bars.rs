//! Meter and downbeats: which beats start a bar, and how many beats a bar has.
//!
//! A bar starts where the harmony changes and the bass enters: for each beat we measure
//! the chroma change from the previous beat, the bass onset and the overall onset, then
//! try every meter (2, 3, 4 beats a bar) and phase and keep the one whose first beats
//! stand out most, with a small prior for 4 (the most common by far). Compound time
//! (6/8, 9/8, 12/8) is told from simple time by the beat's subdivision: three onsets a
//! beat rather than two.

use serde::{Deserialize, Serialize};

/// Meters tried, in beats per bar.
pub const METERS: [u32; 3] = [2, 3, 4];
/// Score bonus for each meter (index-aligned with [`METERS`]), in standard deviations of
/// downbeat evidence: 4 is the default unless another meter clearly fits better.
const METER_PRIOR: [f64; 3] = [-0.10, -0.05, 0.10];

/// Time signature of the song.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    /// Beats per bar (beat = the tracked pulse; a dotted quarter in compound time).
    pub beats_per_bar: u32,
    /// Subdivisions per beat: 2 for simple time, 3 for compound time.
    pub subdivision: u32,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            beats_per_bar: 4,
            subdivision: 2,
        }
    }
}

impl std::fmt::Display for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.subdivision == 3 {
            write!(f, "{}/8", self.beats_per_bar * 3)
        } else {
            write!(f, "{}/4", self.beats_per_bar)
        }
    }
}

/// Per-beat evidence that a bar starts there (z-scored sum; higher = more downbeat-like).
pub fn downbeat_evidence(chroma: &[[f32; 12]], bass_onset: &[f32], onset: &[f32]) -> Vec<f64> {
    let n = chroma.len();
    let change: Vec<f64> = (0..n)
        .map(|i| {
            if i == 0 {
                f64::NAN
            } else {
                1.0 - cosine(&chroma[i], &chroma[i - 1])
            }
        })
        .collect();
    let change = fill_nan_with_mean(change);
    let bass: Vec<f64> = bass_onset.iter().map(|v| f64::from(*v)).collect();
    let on: Vec<f64> = onset.iter().map(|v| f64::from(*v)).collect();
    let (zc, zb, zo) = (zscore(&change), zscore(&bass), zscore(&on));
    (0..n).map(|i| zc[i] + zb[i] + 0.5 * zo[i]).collect()
}

/// Best meter and phase (index of the first downbeat, `< beats_per_bar`) for the evidence.
/// With `meter` given, only the phase is chosen.
pub fn choose(evidence: &[f64], meter: Option<u32>) -> (u32, usize) {
    let mut best = (4u32, 0usize, f64::MIN);
    for (k, &m) in METERS.iter().enumerate() {
        if meter.is_some_and(|want| want != m) {
            continue;
        }
        for phase in 0..m as usize {
            let v = phase_contrast(evidence, m as usize, phase) + METER_PRIOR[k];
            if v > best.2 {
                best = (m, phase, v);
            }
        }
    }
    if let Some(m) = meter.filter(|m| !METERS.contains(m)) {
        // A meter outside the tried set (5, 7, ...): pick its phase the same way.
        let m_us = (m as usize).max(1);
        let phase = (0..m_us)
            .max_by(|a, b| {
                phase_contrast(evidence, m_us, *a).total_cmp(&phase_contrast(evidence, m_us, *b))
            })
            .unwrap_or(0);
        return (m, phase);
    }
    (best.0, best.1)
}

/// Mean evidence on the beats of one phase minus the mean on the others.
fn phase_contrast(evidence: &[f64], m: usize, phase: usize) -> f64 {
    let (mut on, mut n_on, mut off, mut n_off) = (0.0, 0usize, 0.0, 0usize);
    for (i, e) in evidence.iter().enumerate() {
        if i % m == phase {
            on += e;
            n_on += 1;
        } else {
            off += e;
            n_off += 1;
        }
    }
    if n_on == 0 || n_off == 0 {
        return 0.0;
    }
    on / n_on as f64 - off / n_off as f64
}

/// Subdivisions per beat (2 or 3) from the onset autocorrelation at a third and half of
/// the beat period `period` (frames).
pub fn subdivision(onset: &[f32], period: f64) -> u32 {
    let ac = |lag: f64| -> f64 {
        let l = lag.round() as usize;
        if l == 0 || l >= onset.len() {
            return 0.0;
        }
        onset[..onset.len() - l]
            .iter()
            .zip(&onset[l..])
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum::<f64>()
            / (onset.len() - l) as f64
    };
    let third = 0.5 * (ac(period / 3.0) + ac(2.0 * period / 3.0));
    let half = ac(period / 2.0);
    if third > 1.15 * half { 3 } else { 2 }
}

/// Cosine similarity of two vectors (0 when either is all zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        ab += f64::from(*x) * f64::from(*y);
        aa += f64::from(*x) * f64::from(*x);
        bb += f64::from(*y) * f64::from(*y);
    }
    if aa <= 0.0 || bb <= 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

fn fill_nan_with_mean(mut x: Vec<f64>) -> Vec<f64> {
    let finite: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    let mean = if finite.is_empty() {
        0.0
    } else {
        finite.iter().sum::<f64>() / finite.len() as f64
    };
    for v in &mut x {
        if !v.is_finite() {
            *v = mean;
        }
    }
    x
}

/// Standard scores (0 where the spread is nil).
pub fn zscore(x: &[f64]) -> Vec<f64> {
    let n = x.len().max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    x.iter()
        .map(|v| if sd > 1e-12 { (v - mean) / sd } else { 0.0 })
        .collect()
}
